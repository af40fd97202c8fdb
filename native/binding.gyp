{
  "targets": [
    {
      "target_name": "wasmvs_nfq",
      "sources": ["src/addon.cc", "src/nfq_socket.cc", "src/nfq_io.cc", "src/splice.cc", "src/splice_pump.cc", "src/engine.cc", "src/ct_socket.cc"],
      "include_dirs": ["<!@(node -p \"require('node-addon-api').include\")"],
      "defines": ["NAPI_DISABLE_CPP_EXCEPTIONS", "NAPI_VERSION=8"],
      "libraries": ["-lmnl", "-pthread"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-O2"]
    }
  ]
}
