//! Links the plugin binary with packed relative relocations where the toolchain supports them:
//! see `../kit/build/pack_relocations.rs`.

include!("../kit/build/pack_relocations.rs");

fn main() {
    pack_relative_relocations();
}
