fn main() {
    // protoc comes from the protoc-bin-vendored crate: no system install on a fresh machine.
    let protoc = protoc_bin_vendored::protoc_bin_path().expect("vendored protoc for this platform");
    std::env::set_var("PROTOC", protoc);
    println!("cargo:rerun-if-changed=proto/raft.proto");
    // Protobuf maps as BTreeMap: deterministic order, and no std RandomState (whose first use
    // per thread draws OS randomness, which breaks same-seed replays in one process).
    tonic_build::configure().btree_map(["."]).compile_protos(&["proto/raft.proto"], &["proto"]).expect("compile proto/raft.proto");
}
