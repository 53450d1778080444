//! With the `plain-extension` feature (maturin turns it on, see pyproject.toml), builds
//! the Python-free loadable extension (`libquiver.so`, rust/quiver-ext's source) into
//! `OUT_DIR`, from where maturin copies it into the wheel beside the module.
//!
//! The Python module cannot serve the `sqlite3` shell or C hosts itself: it needs
//! libpython's symbols. Cargo builds one library per crate, so this runs a second
//! cargo on a small generated crate: a generated manifest (its own workspace) rather
//! than rust/quiver-ext's, because maturin's sdist keeps only the workspace members
//! the module depends on. The same toolchain, target, profile settings, linker (zig,
//! cross) and lock file are used, and cargo's jobserver bounds the parallel jobs.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    if let Err(message) = run() {
        eprintln!("error: building the plain extension (libquiver) failed: {message}");
        std::process::exit(1);
    }
}

fn var(name: &str) -> Result<String, String> {
    env::var(name).map_err(|_| format!("cargo did not set {name}"))
}

fn run() -> Result<(), String> {
    println!("cargo:rerun-if-changed=build.rs");
    if env::var_os("CARGO_FEATURE_PLAIN_EXTENSION").is_none() {
        return Ok(());
    }
    let crate_dir = PathBuf::from(var("CARGO_MANIFEST_DIR")?);
    let root = crate_dir.join("../..");
    for watched in [
        "../quiver-ext/src",
        "../quiver-sqlite",
        "../quiver-kernels",
        "../../Cargo.toml",
        "../../Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={watched}");
    }
    let out_dir = PathBuf::from(var("OUT_DIR")?);
    let target = var("TARGET")?;
    let release = var("PROFILE")? == "release";

    let crate_path = out_dir.join("plain-crate");
    fs::create_dir_all(&crate_path).map_err(|e| format!("{}: {e}", crate_path.display()))?;
    let manifest = crate_path.join("Cargo.toml");
    write(&manifest, &generated_manifest(&root)?)?;
    let lock = root.join("Cargo.lock");
    if lock.exists() {
        fs::copy(&lock, crate_path.join("Cargo.lock")).map_err(|e| format!("Cargo.lock: {e}"))?;
    }

    // Kept beside the outer profile directory so rebuilds are incremental.
    let target_dir = profile_dir(&out_dir).join("quiver-plain");
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target")
        .arg(&target)
        .arg("--target-dir")
        .arg(&target_dir);
    if release {
        cmd.arg("--release");
    }
    // clippy's driver would lint the generated crate; the target dir is given above.
    cmd.env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CARGO_TARGET_DIR");
    let output = cmd.output().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo build of the generated crate exited with {}:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }

    let name = library_name(&var("CARGO_CFG_TARGET_OS")?);
    let built = target_dir
        .join(&target)
        .join(if release { "release" } else { "debug" })
        .join(name);
    // maturin's include pattern (pyproject.toml) picks this file up from OUT_DIR.
    fs::copy(&built, out_dir.join(name)).map_err(|e| format!("{}: {e}", built.display()))?;
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    // Rewriting an unchanged manifest would make cargo re-check the crate.
    if fs::read_to_string(path).ok().as_deref() == Some(text) {
        return Ok(());
    }
    fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The file name SQLite derives the entry point `sqlite3_quiver_init` from.
fn library_name(target_os: &str) -> &'static str {
    match target_os {
        "windows" => "quiver.dll",
        "macos" | "ios" => "libquiver.dylib",
        _ => "libquiver.so",
    }
}

/// `<target>/[<triple>/]<profile>` from `<that>/build/<pkg>-<hash>/out`.
fn profile_dir(out_dir: &Path) -> PathBuf {
    out_dir
        .ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "build"))
        .and_then(Path::parent)
        .unwrap_or(out_dir)
        .to_path_buf()
}

/// A crate whose library is rust/quiver-ext's source, with the workspace's profiles.
fn generated_manifest(root: &Path) -> Result<String, String> {
    let abs = |rel: &str| -> Result<String, String> {
        let p = root.join(rel);
        let p = p
            .canonicalize()
            .map_err(|e| format!("{}: {e}", p.display()))?;
        // TOML basic strings: backslashes (Windows paths) and quotes escaped.
        Ok(p.display()
            .to_string()
            .replace('\\', "\\\\")
            .replace('"', "\\\""))
    };
    let workspace = fs::read_to_string(root.join("Cargo.toml")).unwrap_or_default();
    Ok(format!(
        r#"# Generated by rust/quiver-py/build.rs: the plain loadable extension.
[package]
name = "quiver-plain"
version = "0.0.0"
edition = "2021"
publish = false

[lib]
name = "quiver"
crate-type = ["cdylib"]
path = "{lib}"

[dependencies]
quiver-sqlite = {{ path = "{sqlite}", features = ["loadable"] }}

[workspace]

{profiles}"#,
        lib = abs("rust/quiver-ext/src/lib.rs")?,
        sqlite = abs("rust/quiver-sqlite")?,
        profiles = profile_sections(&workspace),
    ))
}

/// The `[profile.*]` tables of the workspace manifest, verbatim.
fn profile_sections(manifest: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in manifest.lines() {
        let header = line.trim_start();
        if header.starts_with('[') {
            inside = header.starts_with("[profile.");
        }
        if inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}
