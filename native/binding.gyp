{
  "variables": {
    "native_core%": "<!(node -p \"require('fs').existsSync('gen/core_exports.c') && require('fs').existsSync('/usr/include/wasm-rt.h') ? 1 : 0\")"
  },
  "targets": [
    {
      "target_name": "wasmvs_nfq",
      "sources": ["src/addon.cc", "src/nfq_socket.cc", "src/nfq_io.cc", "src/splice.cc", "src/splice_pump.cc", "src/engine.cc", "src/ct_socket.cc"],
      "include_dirs": ["<!@(node -p \"require('node-addon-api').include\")"],
      "defines": ["NAPI_DISABLE_CPP_EXCEPTIONS", "NAPI_VERSION=8"],
      "libraries": ["-lmnl", "-pthread"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-O2"],
      "conditions": [
        ["native_core==1", {
          "sources": ["src/core_native.cc", "src/nfq_thread.cc", "src/core_rt.c", "gen/core.c", "gen/core_exports.c"],
          "defines": ["WASMVS_NATIVE_CORE", "WASM_RT_MEMCHECK_SIGNAL_HANDLER=0"],
          "cflags_c": ["-O2", "-fno-strict-aliasing", "-Wno-unused-function", "-Wno-unused-variable", "-Wno-unused-but-set-variable", "-Wno-unused-value"]
        }]
      ]
    }
  ]
}
