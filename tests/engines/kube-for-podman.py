#!/usr/bin/python3
# Rewrites docs/examples/kubernetes/pod.yaml into what podman 4.3's
# `kube play` accepts, changing only what it cannot do, and says what on
# stderr.  podman 4.3 knows no native sidecars (an init container with
# restartPolicy: Always) and refuses an init container with probes, so
# the broker becomes the pod's first regular container; podman starts
# the containers in order but waits for no startup probe.
import sys
import yaml

docs = list(yaml.safe_load_all(open(sys.argv[1])))
for d in docs:
    if d.get("kind") != "Pod":
        continue
    spec = d["spec"]
    sidecars = [c for c in spec.get("initContainers", []) if c.get("restartPolicy") == "Always"]
    for c in sidecars:
        spec["initContainers"].remove(c)
        del c["restartPolicy"]
        c.pop("startupProbe", None)
        print("kube-for-podman: %s: native sidecar -> first regular container "
              "(no restartPolicy: Always on init containers; startupProbe dropped)" % c["name"], file=sys.stderr)
    spec["containers"][:0] = sidecars
    # podman 4.3 mounts a configMap volume as a directory even with
    # subPath: mount the directory where the file was meant to be.
    cms = {v["name"] for v in spec.get("volumes", []) if "configMap" in v}
    for c in spec["containers"]:
        for m in c.get("volumeMounts", []):
            sub = m.get("subPath")
            if m["name"] in cms and sub and m["mountPath"].endswith("/" + sub):
                del m["subPath"]
                m["mountPath"] = m["mountPath"][: -len(sub) - 1]
                print("kube-for-podman: %s: configMap %s with subPath -> the whole "
                      "configMap at %s (subPath is not applied to configMap volumes)"
                      % (c["name"], m["name"], m["mountPath"]), file=sys.stderr)
    if not spec.get("initContainers"):
        spec.pop("initContainers", None)
yaml.safe_dump_all(docs, sys.stdout, sort_keys=False)
