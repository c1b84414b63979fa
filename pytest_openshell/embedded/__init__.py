"""The embedded offline cluster: real control-plane binaries supervised as host processes."""
