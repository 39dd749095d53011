//! What each coding costs and saves on a 50-item listing (JSON, ~37 KB),
//! at the edge's levels for proxied bodies (`stream_level`, made per
//! request) and for cached ones (`stored_level`, made once per entry):
//! the numbers behind the defaults in `[compression]`.
//!
//!     cargo bench -p meridian-bench --bench compression
//!
//! Sizes print once before the timings; compare times within one run.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use meridian_edge::compress::{encode_all, ENCODINGS};
use meridian_edge::config::CompressionConfig;

/// A listing shaped like the catalog's answer: varied titles, prices,
/// descriptions drawn from a craft vocabulary.
fn listing() -> Vec<u8> {
    let words = "turned lathe black walnut oil wax grain bowl hand cut maple cherry oak finish \
                 smooth rim base foot wall curve light dark warm food safe gift kitchen table \
                 serve fruit salad bread craft shop"
        .split(' ')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>();
    let items: Vec<serde_json::Value> = (0..50)
        .map(|i| {
            let description: Vec<&str> = (0..50)
                .map(|k| words[(i * 7 + k * 3) % words.len()])
                .collect();
            serde_json::json!({
                "id": format!("0190a8d0-0000-7000-8000-{i:012}"),
                "title": format!("Hand-turned walnut bowl no. {i}"),
                "description": description.join(" "),
                "price": { "amount": 1000 + 37 * i, "currency": "USD" },
                "seller_id": format!("0190a8d0-0000-7000-9000-{:012}", i % 6),
                "stock": i % 7,
                "rating": { "average": 4.5, "count": 10 + i },
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({ "items": items, "next_cursor": null })).unwrap()
}

fn levels(c: &mut Criterion) {
    let body = listing();
    let config = CompressionConfig::default();
    let level = |stored: bool, name: &str| {
        let l = if stored {
            config.stored_level
        } else {
            config.stream_level
        };
        match name {
            "gzip" => l.gzip,
            "br" => l.br,
            _ => l.zstd,
        }
    };
    for stored in [false, true] {
        for e in ENCODINGS {
            let out = encode_all(e, level(stored, e.as_str()), &body).unwrap();
            println!(
                "{:>6} {:<4} level {:>2}: {} → {} bytes ({:.1}%)",
                if stored { "stored" } else { "stream" },
                e.as_str(),
                level(stored, e.as_str()),
                body.len(),
                out.len(),
                100.0 * out.len() as f64 / body.len() as f64
            );
        }
    }
    let mut group = c.benchmark_group("compress_listing");
    group.throughput(Throughput::Bytes(body.len() as u64));
    for stored in [false, true] {
        for e in ENCODINGS {
            let l = level(stored, e.as_str());
            let id = format!(
                "{}-{}",
                if stored { "stored" } else { "stream" },
                e.as_str()
            );
            group.bench_with_input(BenchmarkId::new(id, l), &body, |b, body| {
                b.iter(|| encode_all(e, l, body).unwrap())
            });
        }
    }
    group.finish();
}

criterion_group!(benches, levels);
criterion_main!(benches);
