// Shared by the plugins' build scripts (`include!`d, not a module of the kit).
//
// A plugin is started once per account and provider, hundreds of times in one run over many
// accounts, so its start-up time counts. Most of what the loader does before `main` is applying
// some 38,000 relative relocations from a 0.9 MB table; packed (`DT_RELR`, glibc 2.36 and
// binutils 2.38 or later) the table is about 10 KB, and the plugin holds 0.6 to 1.4 MiB less once
// running (network plugin, `tests/benches/plugin_startup.rs`); the time to the port line moved by
// less than the machine's noise. The binary stays position-independent.
//
// The flag is given only when a probe linked with it runs here; an older linker or C library
// builds the plugin as before.

/// Links the package's binaries with packed relative relocations where the toolchain and the C
/// library support them.
fn pack_relative_relocations() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../kit/build/pack_relocations.rs");
    const FLAG: &str = "-Wl,-z,pack-relative-relocs";
    // Only the plugin binaries are linked with it; the declarations alone link nothing.
    if std::env::var_os("CARGO_FEATURE_PROVIDER").is_none() {
        return;
    }
    let (Ok(target), Ok(host), Some(out)) = (
        std::env::var("TARGET"),
        std::env::var("HOST"),
        std::env::var_os("OUT_DIR"),
    ) else {
        return;
    };
    // The probe must run where it was built, and only GNU/Linux has the loader side.
    if target != host || !target.ends_with("linux-gnu") {
        return;
    }
    let out = std::path::PathBuf::from(out);
    let source = out.join("relr_probe.c");
    let probe = out.join("relr_probe");
    // One pointer in data: a relative relocation for the loader to apply.
    let program = "static int answer;\nint *pointer = &answer;\nint main(void) { return *pointer; }\n";
    if std::fs::write(&source, program).is_err() {
        return;
    }
    let linker = std::env::var("RUSTC_LINKER").unwrap_or_else(|_| "cc".into());
    let linked = std::process::Command::new(linker)
        .arg(&source)
        .arg("-o")
        .arg(&probe)
        .arg(FLAG)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    let runs = linked
        && std::process::Command::new(&probe)
            .status()
            .is_ok_and(|status| status.success());
    if runs {
        println!("cargo:rustc-link-arg-bins={FLAG}");
    }
}
