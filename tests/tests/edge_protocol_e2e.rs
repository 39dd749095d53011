//! End-to-end: the edge's protocol hygiene, probed as an attacker or a
//! careless client would — methods refused before credentials, oversized
//! targets and headers, missing and unknown hosts, refused bodies drained so
//! the client reads the answer, and slow clients cut off without starving
//! anyone else.

use std::time::{Duration, Instant};

use meridian_e2e::raw::{self, status_of};
use meridian_e2e::{error_code, login, Cluster, Options};
use reqwest::Method;
use tokio::io::AsyncWriteExt;

fn with(extra: &str) -> Options {
    Options {
        edge_extra: extra.to_owned(),
        ..Options::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn methods_sizes_and_hosts_are_checked_before_anything_else() {
    let cluster = Cluster::start(with("[protocol]\nhosts = [\"localhost\"]\n")).await;
    let client = cluster.client();

    // TRACE on a session route: 405 with Allow, with or without a session.
    let token = login(&cluster, &client, "trace@example.com").await;
    let trace = Method::from_bytes(b"TRACE").unwrap();
    for bearer in [None, Some(token.as_str())] {
        let mut request = client.request(trace.clone(), cluster.url("/api/auth/me"));
        if let Some(t) = bearer {
            request = request.bearer_auth(t);
        }
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 405, "signed in: {}", bearer.is_some());
        let allow = r.headers()["allow"].to_str().unwrap().to_owned();
        assert!(allow.contains("GET") && !allow.contains("TRACE"), "{allow}");
        assert!(r.headers().get("server").is_none());
        assert_eq!(error_code(r).await, "method_not_allowed");
    }
    // Oversized target → 414; oversized header block → 431; more header
    // lines than Pingora parses → 431 too: JSON, no Server banner.
    let long = cluster.url(&format!("/api/catalog/products?q={}", "a".repeat(9000)));
    let r = client.get(long).send().await.unwrap();
    assert_eq!(r.status(), 414);
    assert_eq!(error_code(r).await, "uri_too_long");
    let r = client
        .get(cluster.url("/api/catalog/categories"))
        .header("cookie", "c".repeat(40_000))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 431);
    assert_eq!(error_code(r).await, "headers_too_large");
    // No Server banner on proxied answers either.
    let r = client
        .get(cluster.url("/api/catalog/categories"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("server").is_none(), "{:?}", r.headers());

    // What only a raw HTTP/1.1 client sends (every request above came over
    // HTTP/2 with :authority localhost): CONNECT; more header lines than
    // Pingora parses; a header that does not parse; no Host; a host this
    // edge does not serve. JSON answers, never Pingora's banner.
    let mut many = b"GET /api/catalog/categories HTTP/1.1\r\nHost: localhost\r\n".to_vec();
    for i in 0..300 {
        many.extend_from_slice(format!("x-h{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    let close = "Connection: close\r\n\r\n";
    let cases: [(Vec<u8>, u16, &str); 5] = [
        (
            format!("CONNECT localhost:443 HTTP/1.1\r\nHost: localhost\r\n{close}").into_bytes(),
            405,
            "method_not_allowed",
        ),
        (many, 431, "headers_too_large"),
        (
            b"GET / HTTP/1.1\r\nHost localhost\r\n\r\n".to_vec(),
            400,
            "bad_request",
        ),
        (
            format!("GET /api/catalog/categories HTTP/1.1\r\n{close}").into_bytes(),
            400,
            "missing_host",
        ),
        (
            format!("GET /api/catalog/categories HTTP/1.1\r\nHost: elsewhere.example\r\n{close}")
                .into_bytes(),
            421,
            "misdirected_request",
        ),
    ];
    for (request, status, code) in cases {
        let answer = raw::exchange(&cluster, &request).await;
        assert_eq!(status_of(&answer), status, "{answer}");
        assert!(answer.contains(code), "{code}: {answer}");
        assert!(
            !answer.to_ascii_lowercase().contains("\r\nserver:"),
            "{answer}"
        );
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_body_is_drained_so_the_client_reads_the_413() {
    let cluster = Cluster::start(Options::default()).await;
    let body = vec![b'x'; 2 << 20];
    // A client that writes its whole body before reading (as Python's
    // urllib does): every time, it reads the 413 instead of a reset.
    for attempt in 0..10 {
        let mut stream = raw::connect(&cluster).await;
        let head = format!(
            "POST /api/catalog/products HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let wrote = stream.write_all(&body).await;
        assert!(
            wrote.is_ok(),
            "attempt {attempt}: the edge reset the upload: {wrote:?}"
        );
        let answer = raw::read_all(&mut stream, Duration::from_secs(10)).await;
        assert_eq!(status_of(&answer), 413, "attempt {attempt}: {answer:?}");
        assert!(answer.contains("body_too_large"));
    }

    // HTTP/2, as curl sends it: the 413 arrives and the stream ends cleanly
    // (curl 7.88 fails on a 413 followed by RST_STREAM).
    let file = cluster.dir.join("big-upload.json");
    std::fs::write(&file, &body).unwrap();
    let ca = cluster.dir.join("curl-ca.pem");
    std::fs::write(&ca, &cluster.ca_pem).unwrap();
    let out = tokio::process::Command::new("curl")
        .args([
            "-sS",
            "--http2",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{http_version}",
        ])
        .arg("--cacert")
        .arg(&ca)
        .arg("--resolve")
        .arg(format!("localhost:{}:127.0.0.1", cluster.https.port()))
        .args(["-H", "content-type: application/json", "--data-binary"])
        .arg(format!("@{}", file.display()))
        .arg(cluster.url("/api/catalog/products"))
        .output()
        .await
        .expect("curl is installed (deploy/local/prereqs.sh)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "curl: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout, "413 2");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_early_answer_drains_the_body_so_the_client_reads_it() {
    let cluster = Cluster::start(Options::default()).await;
    // Answered before the body is read, by the edge (sign-in required) or
    // by the origin (a form post from nowhere: the CSRF check): the
    // connection closes after the answer, and closing on unread bytes
    // resets it, which can destroy the answer before the client reads it
    // (seen: clients got a TLS EOF instead of their 401, and "reset" while
    // still writing, before every early answer lingered).
    let body = vec![b'x'; 900 << 10];
    let mut clients = tokio::task::JoinSet::new();
    for attempt in 0..40 {
        let (path, want) = if attempt % 2 == 0 {
            ("/api/orders/checkout", 401)
        } else {
            ("/cart/add", 403)
        };
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let mut stream = raw::connect(&cluster).await;
        let body = body.clone();
        clients.spawn(async move {
            stream.write_all(head.as_bytes()).await.unwrap();
            let wrote = stream.write_all(&body).await;
            let answer = raw::read_all(&mut stream, Duration::from_secs(10)).await;
            (attempt, want, wrote.is_ok(), status_of(&answer))
        });
    }
    while let Some(done) = clients.join_next().await {
        let (attempt, want, wrote, got) = done.unwrap();
        assert!(wrote, "attempt {attempt}: the edge reset the body");
        assert_eq!(got, want, "attempt {attempt}");
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_and_others_are_served_meanwhile() {
    let cluster = Cluster::start(with(
        "[protocol]\nheader_timeout_ms = 1500\nbody_grace_ms = 1000\nbody_min_rate = 1024\n",
    ))
    .await;
    // 40 slowloris connections, each sending a header line every 500 ms
    // (every read well inside the 60 s read timeout).
    let mut slow = Vec::new();
    for _ in 0..40 {
        let mut stream = raw::connect(&cluster).await;
        slow.push(tokio::spawn(async move {
            let started = Instant::now();
            stream
                .write_all(b"GET /api/catalog/categories HTTP/1.1\r\n")
                .await
                .unwrap();
            for i in 0..40 {
                tokio::time::sleep(Duration::from_millis(500)).await;
                if stream
                    .write_all(format!("x-slow-{i}: 1\r\n").as_bytes())
                    .await
                    .is_err()
                {
                    break;
                }
                if started.elapsed() > Duration::from_secs(4) {
                    break;
                }
            }
            let answer = raw::read_all(&mut stream, Duration::from_secs(5)).await;
            (started.elapsed(), answer)
        }));
    }
    // Meanwhile every ordinary client is served.
    let client = cluster.client();
    for _ in 0..20 {
        let r = client
            .get(cluster.url("/api/catalog/categories"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for task in slow {
        let (elapsed, answer) = task.await.unwrap();
        assert_eq!(status_of(&answer), 408, "{answer:?}");
        assert!(answer.contains("request_timeout"));
        assert!(
            elapsed < Duration::from_secs(4),
            "cut off after {elapsed:?}"
        );
    }

    // A body trickled at 10 bytes a second: 408 once the grace is over.
    let mut stream = raw::connect(&cluster).await;
    let started = Instant::now();
    stream
        .write_all(b"POST /api/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
        .await
        .unwrap();
    let trickle = async {
        for _ in 0..30 {
            if stream.write_all(b"xxxxxxxxxx").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_millis(2500), trickle).await;
    let answer = raw::read_all(&mut stream, Duration::from_secs(5)).await;
    assert_eq!(status_of(&answer), 408, "{answer:?}");
    assert!(started.elapsed() < Duration::from_secs(8));
    cluster.shutdown().await;
}
