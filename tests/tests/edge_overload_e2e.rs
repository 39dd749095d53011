//! End-to-end: the edge bounds the requests in flight to each region
//! (`[upstream] max_in_flight_per_region`) and answers the rest at once
//! with `503 overloaded`, instead of queueing them in front of a saturated
//! origin; a full region is busy, not failing, so its breaker stays shut.
//! Anonymous reads hold at most half the slots, so a write still gets in.

use std::time::Duration;

use meridian_e2e::call::Send as _;
use meridian_e2e::{metric_sum, Cluster, Options};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_region_is_shed_at_the_edge_without_opening_its_breaker() {
    let cluster = Cluster::start(Options {
        health_interval_ms: 10_000,
        upstream_extra: "max_in_flight_per_region = 2\nqueue_ms = 0".into(),
        ..Options::default()
    })
    .await;
    // Portland answers slowly (a relay adds a second each way), so the
    // first two requests hold both of its slots while the rest arrive.
    let (link, regions) = cluster.relaying("portland", Duration::from_secs(1)).await;
    let edge = cluster.start_edge_for("shedding", &regions, "").await;
    let client = edge.client();
    let url = edge.url("/api/catalog/products?limit=2");
    let get = || {
        client
            .get(&url)
            .header("x-client-geo", "45.52,-122.68")
            .reply()
    };

    // A sign-in (a write) sent while the reads are in flight.
    let sign_in = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        client
            .post(edge.url("/api/auth/login"))
            .header("x-client-geo", "45.52,-122.68")
            .json(
                &serde_json::json!({"email": "nobody@example.com", "password": "not the password"}),
            )
            .reply()
            .await
    };
    let (answers, signed_in) =
        futures::future::join(futures::future::join_all((0..8).map(|_| get())), sign_in).await;
    let served: Vec<_> = answers.iter().filter(|r| r.status() == 200).collect();
    let shed: Vec<_> = answers.iter().filter(|r| r.status() == 503).collect();
    // Two slots; anonymous reads may hold half of them.
    assert_eq!(
        (served.len(), shed.len()),
        (1, 7),
        "{:?}",
        answers.iter().map(|r| r.status()).collect::<Vec<_>>()
    );
    assert!(served.iter().all(|r| r.region() == "portland"));
    for r in &shed {
        assert_eq!(r.code(), "overloaded", "{}", r.text);
        assert_eq!(r.header("retry-after"), "1");
        assert_eq!(r.header("x-meridian-overloaded"), "edge");
        assert_eq!(r.region(), "portland");
    }
    // The write took the slot reads may not: answered by Portland itself.
    assert_eq!(
        (
            signed_in.status().as_u16(),
            signed_in.code(),
            signed_in.region()
        ),
        (401, "invalid_credentials", "portland"),
        "{}",
        signed_in.text
    );

    let metrics = edge.metrics().await;
    let portland = "region=\"portland\"";
    assert_eq!(
        metric_sum(&metrics, "meridian_edge_region_shed_total", &[portland]),
        7.0,
        "{metrics}"
    );
    // Seven refusals would have opened it (five failures do) had they
    // counted as the region's failures.
    assert_eq!(
        metric_sum(&metrics, "meridian_edge_region_breaker_open", &[portland]),
        0.0
    );
    // The slots came back with the answers: Portland serves again.
    link.set_delay(Duration::ZERO);
    let again = get().await;
    assert_eq!((again.status().as_u16(), again.region()), (200, "portland"));
    edge.stop().await;
    cluster.shutdown().await;
}
