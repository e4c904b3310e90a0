//! Many clients ingesting at once, into one dataset and into two, while a reader reads.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use pluginlake::run::{RunFilter, RunState, WorkerPool};

use super::{definitions, fast_worker, lab_records, lab_rows, TestServer};

fn vitals_rows(lake: &pluginlake::Lake) -> usize {
    match lake.load::<Vec<RecordBatch>>(["vitals", "readings"]) {
        Ok(b) => b.iter().map(RecordBatch::num_rows).sum(),
        Err(e) if e.kind() == pluginlake::ErrorKind::NotFound => 0,
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_clients_into_two_datasets_while_a_reader_reads_lose_and_duplicate_nothing() {
    let server = TestServer::start().await;
    let lake = server.lake();
    let pool = WorkerPool::spawn(&server.store, &lake, &definitions(), 2, &fast_worker()).unwrap();

    // A reader reading both tables the whole time; a failed read fails the test.
    let reading = Arc::new(AtomicBool::new(true));
    let reader = {
        let (lake, reading) = (lake.clone(), reading.clone());
        tokio::task::spawn_blocking(move || {
            let mut reads = 0;
            while reading.load(Ordering::SeqCst) {
                let (labs, vitals) = (lab_rows(&lake), vitals_rows(&lake));
                assert!(
                    labs % 7 == 0 && vitals % 3 == 0,
                    "a partial ingestion was visible"
                );
                reads += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            reads
        })
    };

    const CLIENTS: usize = 16;
    const EACH: usize = 4;
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (client, url) = (server.client.clone(), server.url.clone());
        let (labs_key, vitals_key) = (server.keys.labs.clone(), server.keys.vitals.clone());
        clients.push(tokio::spawn(async move {
            for i in 0..EACH {
                // Half the clients write both datasets.
                let (dataset, key, body) = if c % 2 == 1 && i % 2 == 1 {
                    let body = (0..3)
                        .map(|j| format!("{{\"person_id\": {}, \"pulse\": 60}}", c * 100 + j))
                        .collect::<Vec<_>>()
                        .join("\n");
                    ("vitals", vitals_key.clone(), (body, "application/x-ndjson"))
                } else {
                    (
                        "labs",
                        labs_key.clone(),
                        (lab_records(c * 1000 + i * 10, 7), "application/json"),
                    )
                };
                let r = client
                    .post(format!("{url}/ingest/{dataset}"))
                    .bearer_auth(key)
                    .header("content-type", body.1)
                    .body(body.0)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
            }
        }));
    }
    for c in clients {
        c.await.unwrap();
    }
    let total = CLIENTS * EACH;
    let vitals_posts = (CLIENTS / 2) * (EACH / 2);
    let started = Instant::now();
    loop {
        let done = server
            .store
            .runs(&RunFilter {
                state: Some(RunState::Success),
                limit: Some(1000),
                ..RunFilter::default()
            })
            .await
            .unwrap()
            .len();
        if done == total {
            break;
        }
        let failed = server
            .store
            .runs(&RunFilter {
                state: Some(RunState::Failure),
                ..RunFilter::default()
            })
            .await
            .unwrap();
        assert!(failed.is_empty(), "{:?}", failed[0].error);
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "{done} of {total} runs done"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    reading.store(false, Ordering::SeqCst);
    let reads = reader.await.unwrap();
    assert!(reads > 10, "{reads} reads");
    pool.shutdown().await.unwrap();
    assert_eq!(lab_rows(&lake), (total - vitals_posts) * 7);
    assert_eq!(vitals_rows(&lake), vitals_posts * 3);
    server.stop().await;
}
