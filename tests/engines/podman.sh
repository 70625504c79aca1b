podman_checks() { :; }
podman_cleanup() { :; }
rootless_cleanup() { :; }
