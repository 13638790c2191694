#!/usr/bin/env python3
"""Runs a #cloud-config's packages, write_files and runcmd in this root, in
cloud-init's order (packages, write_files, deferred write_files, runcmd),
for the install test: cloud-init itself needs a booted instance.

The packages list must be exactly ["skgate"]; it is installed from the .deb
given (the repository the snippet expects is not reachable here), with
cloud-init's own dpkg option (keep a configuration file already there).

usage: apply-cloud-config.py CLOUD_CONFIG SKGATE_DEB
"""
import grp
import os
import pwd
import subprocess
import sys

import yaml


def write_file(entry):
    path = entry["path"]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".cloud-config-tmp"
    with open(tmp, "w") as f:
        f.write(entry.get("content", ""))
    os.chmod(tmp, int(str(entry.get("permissions", "0644")), 8))
    user, _, group = entry.get("owner", "root:root").partition(":")
    os.chown(tmp, pwd.getpwnam(user).pw_uid, grp.getgrnam(group or user).gr_gid)
    os.rename(tmp, path)
    print(f"# cloud-init write_files: {path}", flush=True)


def main():
    config_path, deb = sys.argv[1], sys.argv[2]
    with open(config_path) as f:
        text = f.read()
    if not text.startswith("#cloud-config\n"):
        sys.exit("not a #cloud-config")
    config = yaml.safe_load(text)
    if config.get("packages") != ["skgate"]:
        sys.exit(f"expected packages: [skgate], found {config.get('packages')!r}")
    files = config.get("write_files", [])
    for entry in files:
        if not entry.get("defer"):
            write_file(entry)
    print(f"# cloud-init packages: skgate (from {deb})", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "install", "-y", "-q", "-o", "Dpkg::Options::=--force-confold", deb],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    for entry in files:
        if entry.get("defer"):
            write_file(entry)
    for command in config.get("runcmd", []):
        argv = command if isinstance(command, list) else ["sh", "-c", command]
        print("# cloud-init runcmd: " + " ".join(argv), flush=True)
        subprocess.run(argv, check=True)


if __name__ == "__main__":
    main()
