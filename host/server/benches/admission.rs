//! Admission's cost per decision as the number of other active tenants
//! grows: one tenant enters and leaves while N others each hold a decision
//! in flight (issue 17: ten thousand tenants on one server).
//!
//! `cargo bench -p warden-server --bench admission`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use warden_server::decisions::admission::Admission;

fn enter_and_leave(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("admission/enter+leave");
    for others in [0usize, 100, 10_000] {
        let admission = Admission::default();
        let names: Vec<String> = (0..others).map(|i| format!("tenant-{i}")).collect();
        let held: Vec<_> = rt.block_on(async {
            let mut held = Vec::new();
            for n in &names {
                held.push(admission.enter(n).await.unwrap());
            }
            held
        });
        group.bench_with_input(BenchmarkId::from_parameter(others), &others, |b, _| {
            b.iter(|| rt.block_on(async { drop(admission.enter("acme").await.unwrap()) }));
        });
        drop(held);
    }
    group.finish();
}

criterion_group!(benches, enter_and_leave);
criterion_main!(benches);
