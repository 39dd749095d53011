//! End-to-end: the edge compresses what clients accept — cached answers
//! from a variant made once, proxied answers as they stream — and leaves
//! alone what it should not touch.

use std::io::Read;

use meridian_e2e::{login, metric_sum, scrape, Cluster, Options};

const RULES: &str = r#"
[cache]
purge_feed = false
[[cache.rules]]
prefix = "/api/catalog"
max_ttl_ms = 60000
"#;

const LISTING: &str = "/api/catalog/products?limit=50&sort=price_desc";

fn decode(encoding: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match encoding {
        "gzip" => flate2::read::GzDecoder::new(body)
            .read_to_end(&mut out)
            .map(drop),
        "br" => brotli::Decompressor::new(body, 4096)
            .read_to_end(&mut out)
            .map(drop),
        "zstd" => zstd::stream::read::Decoder::new(body)
            .and_then(|mut d| d.read_to_end(&mut out))
            .map(drop),
        "" => {
            out.extend_from_slice(body);
            Ok(())
        }
        other => panic!("unexpected coding {other:?}"),
    }
    .unwrap_or_else(|e| panic!("{encoding} body does not decode: {e}"));
    out
}

struct Answer {
    encoding: String,
    vary: String,
    cache: String,
    length: Option<usize>,
    body: Vec<u8>,
}

async fn get(cluster: &Cluster, path: &str, accept: Option<&str>, token: Option<&str>) -> Answer {
    get_over(cluster, false, path, accept, token).await
}

/// `http1`: over HTTP/1.1 (chunked when streamed) instead of HTTP/2.
async fn get_over(
    cluster: &Cluster,
    http1: bool,
    path: &str,
    accept: Option<&str>,
    token: Option<&str>,
) -> Answer {
    // The bytes as sent: another crate turns on reqwest's gzip decoding.
    let mut builder = cluster.client_builder().no_gzip();
    if http1 {
        builder = builder.http1_only();
    }
    let client = builder.build().unwrap();
    let mut request = client.get(cluster.url(path));
    if let Some(accept) = accept {
        request = request.header("accept-encoding", accept);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let r = request.send().await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
    let header = |name: &str| {
        r.headers()
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (encoding, vary, cache) = (
        header("content-encoding"),
        header("vary"),
        header("x-cache"),
    );
    let length = r
        .headers()
        .get("content-length")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let body = r.bytes().await.unwrap().to_vec();
    Answer {
        encoding,
        vary,
        cache,
        length,
        body,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_and_proxied_answers_are_compressed_as_negotiated() {
    let cluster = Cluster::start(Options {
        edge_extra: RULES.to_owned(),
        ..Options::default()
    })
    .await;

    // The identity answer, as a client that accepts no coding gets it.
    let plain = get(&cluster, LISTING, None, None).await;
    assert_eq!(plain.cache, "MISS");
    assert_eq!(plain.encoding, "");
    assert!(
        plain.vary.contains("accept-encoding"),
        "vary: {}",
        plain.vary
    );
    assert!(plain.body.len() > 8_000, "a 50-item listing is big");
    let json: serde_json::Value = serde_json::from_slice(&plain.body).unwrap();
    assert_eq!(json["items"].as_array().unwrap().len(), 50);

    let before = scrape(cluster.metrics).await;
    // Browsers' header: brotli is preferred; each coding served from the
    // cache decodes to the same bytes, with its own exact length.
    let cases = [
        ("gzip, deflate, br, zstd", "br"),
        ("gzip, zstd", "zstd"),
        ("gzip", "gzip"),
        ("br;q=0.2, gzip;q=0.9", "gzip"),
        ("*", "br"),
        ("gzip;q=0, br;q=0, zstd;q=0", ""),
        ("identity", ""),
    ];
    let mut sent = 0;
    for (accept, want) in cases {
        for _ in 0..2 {
            let a = get(&cluster, LISTING, Some(accept), None).await;
            assert_eq!(a.cache, "HIT", "{accept}");
            assert_eq!(a.encoding, want, "Accept-Encoding: {accept}");
            assert!(a.vary.contains("accept-encoding"));
            assert_eq!(a.length, Some(a.body.len()), "{accept}");
            assert_eq!(decode(want, &a.body), plain.body, "{accept}");
            if !want.is_empty() {
                eprintln!("{want}: {} of {} bytes", a.body.len(), plain.body.len());
                assert!(
                    a.body.len() < plain.body.len() / 4,
                    "{want}: {}",
                    a.body.len()
                );
                sent += 1;
            }
        }
    }
    let after = scrape(cluster.metrics).await;
    let grew = |name: &str| metric_sum(&after, name, &[]) - metric_sum(&before, name, &[]);
    let input = grew("meridian_edge_compression_input_bytes_total");
    let output = grew("meridian_edge_compression_output_bytes_total");
    assert_eq!(input, (sent * plain.body.len()) as f64);
    assert!(output > 0.0 && output < input / 4.0, "{output} of {input}");

    // A signed-in request bypasses the cache: its answer streams through
    // the encoder (no length known ahead) and still decodes to the list.
    let token = login(&cluster, &cluster.client(), "zip@example.com").await;
    let streamed = [("br", "br"), ("zstd", "zstd"), ("gzip", "gzip")];
    for ((accept, want), http1) in streamed.into_iter().flat_map(|c| [(c, false), (c, true)]) {
        let a = get_over(&cluster, http1, LISTING, Some(accept), Some(&token)).await;
        assert_eq!(a.cache, "BYPASS");
        assert_eq!(a.encoding, want);
        assert_eq!(a.length, None, "a streamed body has no length ahead");
        let streamed: serde_json::Value = serde_json::from_slice(&decode(want, &a.body)).unwrap();
        assert_eq!(streamed["items"], json["items"]);
    }

    // Small answers are not worth it: no coding, and no Vary either.
    let ids: Vec<String> = json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    let small = get(
        &cluster,
        LISTING.replace("50", "1").as_str(),
        Some("br"),
        None,
    )
    .await;
    assert!(
        small.body.len() < 1024,
        "one item: {} bytes",
        small.body.len()
    );
    assert_eq!(small.encoding, "");
    assert!(!small.vary.contains("accept-encoding"));
    let one = get(
        &cluster,
        &format!("/api/catalog/products/{}", ids[0]),
        Some("gzip"),
        None,
    )
    .await;
    let size = decode(&one.encoding, &one.body).len();
    assert_eq!(size >= 1024, one.encoding == "gzip", "{size} bytes");
    cluster.shutdown().await;
}
