fn main() {
    // protoc comes from the protoc-bin-vendored crate: no system install on a fresh machine.
    let protoc = protoc_bin_vendored::protoc_bin_path().expect("vendored protoc for this platform");
    std::env::set_var("PROTOC", protoc);
    println!("cargo:rerun-if-changed=proto/raft.proto");
    tonic_build::configure().compile_protos(&["proto/raft.proto"], &["proto"]).expect("compile proto/raft.proto");
}
