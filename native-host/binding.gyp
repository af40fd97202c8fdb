{
  "targets": [
    {
      "target_name": "wasmvs_nfq",
      "sources": ["src/addon.cc", "src/nfq_socket.cc", "src/nfq_io.cc"],
      "include_dirs": ["<!@(node -p \"require('node-addon-api').include\")"],
      "defines": ["NAPI_DISABLE_CPP_EXCEPTIONS", "NAPI_VERSION=8"],
      "libraries": ["-lmnl"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-O2"]
    }
  ]
}
