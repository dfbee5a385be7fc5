{
  "targets": [
    {
      "target_name": "tapflow_native",
      "sources": ["tap.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
