//! A quick throughput figure per store backend: writes, reads and listings
//! per second with concurrent tasks, printed as a table. Not a test (no
//! thresholds). The servers come from the test variables
//! (`MICRO_TEST_REDIS`, `MICRO_TEST_POSTGRES`, `MICRO_TEST_ETCD`); a
//! backend without one is left out.
//!
//! ```sh
//! cargo run --release -p micro-runtime --features etcd,store-redis,store-postgres \
//!     --example store_throughput -- 2000 16
//! ```

use std::sync::Arc;
use std::time::Instant;

use micro_runtime::store::{ListOptions, ReadOptions, Store, StoreOptions};

#[tokio::main]
async fn main() -> micro_runtime::Result<()> {
    let mut args = std::env::args().skip(1);
    let ops: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let tasks: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(16);
    let database = format!("bench{}", std::process::id());
    let options = |address: Option<String>| StoreOptions {
        address,
        ..StoreOptions::default().database(&database)
    };
    let mut stores: Vec<Arc<dyn Store>> = vec![Arc::new(
        micro_runtime::store::memory::MemoryStore::with_options(&options(None))?,
    )];
    let file = std::env::temp_dir().join(format!("{database}.redb"));
    stores.push(Arc::new(micro_runtime::store::file::FileStore::open(
        &options(Some(file.to_string_lossy().into_owned())),
    )?));
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    if let Some(address) = var("MICRO_TEST_REDIS") {
        stores.push(Arc::new(micro_runtime::store::redis::RedisStore::new(
            &options(Some(address)),
        )?));
    }
    if let Some(address) = var("MICRO_TEST_POSTGRES") {
        stores.push(Arc::new(
            micro_runtime::store::postgres::PostgresStore::new(&options(Some(address)))?,
        ));
    }
    if let Some(address) = var("MICRO_TEST_ETCD") {
        stores.push(Arc::new(micro_runtime::store::etcd::EtcdStore::new(
            options(Some(address)),
        )?));
    }
    println!("{ops} operations of 100-byte values, {tasks} tasks at once");
    println!(
        "{:<10} {:>12} {:>12} {:>14}",
        "backend", "writes/s", "reads/s", "lists(100)/s"
    );
    for store in stores {
        let writes = run(&store, ops, tasks, |store, i| async move {
            store.put(&format!("k/{i:06}"), vec![b'x'; 100]).await
        })
        .await?;
        let reads = run(&store, ops, tasks, |store, i| async move {
            store.get(&format!("k/{i:06}")).await.map(drop)
        })
        .await?;
        let lists = run(&store, (ops / 20).max(1), tasks, |store, _| async move {
            let options = ListOptions::default().prefix("k/").limit(100);
            store.list(&options).await.map(drop)
        })
        .await?;
        println!(
            "{:<10} {writes:>12.0} {reads:>12.0} {lists:>14.0}",
            store.name()
        );
        // Leave nothing behind.
        let keys = store
            .read("k/", &ReadOptions::default().prefix())
            .await?
            .into_iter()
            .map(|r| r.key);
        for key in keys {
            store.delete(&key, &Default::default()).await?;
        }
    }
    let _ = std::fs::remove_file(file);
    Ok(())
}

/// Runs `op(i)` for `i` in `0..ops` on `tasks` tasks; operations per second.
async fn run<F, Fut>(
    store: &Arc<dyn Store>,
    ops: usize,
    tasks: usize,
    op: F,
) -> micro_runtime::Result<f64>
where
    F: Fn(Arc<dyn Store>, usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = micro_runtime::Result<()>> + Send,
{
    let start = Instant::now();
    let mut handles = Vec::new();
    for task in 0..tasks {
        let (store, op) = (store.clone(), op.clone());
        handles.push(tokio::spawn(async move {
            for i in (task..ops).step_by(tasks) {
                op(store.clone(), i).await?;
            }
            Ok::<_, micro_runtime::Error>(())
        }));
    }
    for handle in handles {
        handle.await.expect("a bench task panicked")?;
    }
    Ok(ops as f64 / start.elapsed().as_secs_f64())
}
