"""compose/Dockerfile, checked without a Docker engine.

Owns: a multi-stage build on Debian 12 whose runtime runs as non-root with a health check
(and curl for compose's checks of every daemon, whose listeners bind 0.0.0.0) and carries
no compiler, the same CMake build of every daemon (named targets, no
sanitizers, installed stripped), the e-mail templates where the notifier reads them, and
the Debian packages: the build stage installs the package of every pkg-config module
CMakeLists.txt requires, the runtime stage every library the built binaries load.
Rules: the package checks read this machine's dpkg database (Debian 12 with the build
packages) and FAIL without pkg-config, dpkg-query or readelf; the library check needs the
binaries tests/run built (TASKBUS_BUILD_DIR) and FAILS without them.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers.deploy_files import BINARIES, DOCKERFILE, REPO, apt_packages, build_dir, dockerfile_stages
from helpers.deploy_files import compose  # noqa: F401 (a fixture)

pytestmark = pytest.mark.stack_independent


def test_dockerfile_runtime_is_non_root_with_a_health_check(compose):
    stages = dockerfile_stages()
    assert len(stages) >= 2, "the Dockerfile must be multi-stage"
    for from_line, _ in stages:
        assert re.search(r"debian:12|\$\{DEBIAN_IMAGE\}", from_line), from_line
    assert "debian:12" in DOCKERFILE.read_text()
    runtime = stages[-1][1]
    users = [ins.split(None, 1)[1].strip() for ins in runtime if re.match(r"USER\s", ins, re.I)]
    assert users, "the runtime stage has no USER"
    assert users[-1].split(":")[0] not in ("root", "0"), f"the runtime runs as {users[-1]}"
    has_healthcheck = any(re.match(r"HEALTHCHECK\s+(?!NONE)", ins, re.I) for ins in runtime)
    api_hc = compose["services"]["api"].get("healthcheck", {}).get("test")
    assert has_healthcheck or api_hc, "no HEALTHCHECK and no compose healthcheck for the API"
    # The runtime carries no compiler.
    runtime_pkgs = apt_packages(runtime)
    assert not {p for p in runtime_pkgs if p.endswith("-dev") or p in ("build-essential", "cmake", "gcc")}, runtime_pkgs
    copies = " ".join(ins for ins in runtime if ins.upper().startswith("COPY"))
    for b in BINARIES:
        assert b in copies or "/out/bin" in copies, f"the runtime stage does not get {b}"
    # taskbus-notifier reads <TASKBUS_SCHEMAS_DIR>/../workers/notifier/templates.
    env = " ".join(ins for ins in runtime if ins.upper().startswith("ENV"))
    # The API and every daemon's metrics listener answer probes and scrapes from outside
    # the container; compose's healthchecks run curl inside it.
    for var in ("TASKBUS_HTTP_HOST", "TASKBUS_METRICS_HOST"):
        assert re.search(rf"\b{var}=0\.0\.0\.0\b", env), f"the runtime does not set {var}=0.0.0.0"
    assert "curl" in runtime_pkgs, "the healthchecks of compose use curl"
    m = re.search(r"TASKBUS_SCHEMAS_DIR=(\S+)", env)
    assert m, "the runtime sets no TASKBUS_SCHEMAS_DIR"
    templates_dir = str(Path(m.group(1)).parent / "workers" / "notifier" / "templates")
    assert re.search(rf"COPY\s+--from=\S+\s+/src/workers/notifier/templates/?\s+{re.escape(templates_dir)}/?(\s|$)", copies), (
        f"the e-mail templates are not copied to {templates_dir}")
    assert sorted(p.name for p in (REPO / "workers" / "notifier" / "templates").glob("*.txt")), "no e-mail templates"
    # The API serves the browser's files from TASKBUS_WEB_DIR (api/web_files.h): the web
    # client, the reference page and the Swagger UI npm vendored in a stage of its own.
    m = re.search(r"TASKBUS_WEB_DIR=(\S+)", env)
    assert m, "the runtime sets no TASKBUS_WEB_DIR"
    assert re.search(rf"COPY\s+--from=(\S+)\s+/out/web/?\s+{re.escape(m.group(1))}/?(\s|$)", copies), (
        f"the browser's files are not copied to {m.group(1)}")
    web_stage = next((ins for f, ins in dockerfile_stages() if re.search(r"\bAS\s+web\b", f, re.I)), None)
    assert web_stage, "no stage named web"
    web = " ".join(web_stage)
    assert re.search(r"npm ci\b[^&|;]*--ignore-scripts", web), "the Swagger UI is not installed from the lock without scripts"
    for part in ("web/app/", "web/docs/", "swagger-ui-dist"):
        assert part in web, f"the web stage does not gather {part}"


def test_dockerfile_builds_the_binaries_with_the_repository_cmake():
    cmake = (REPO / "CMakeLists.txt").read_text()
    targets = set(re.findall(r"add_executable\((taskbus-[a-z]+)", cmake))
    # The processes outside the API: one folder each (set(TASKBUS_PROCESSES workers/relay ...)),
    # whose binary a foreach names taskbus-<folder name>.
    if re.search(r"add_executable\(taskbus-\$\{process\}", cmake):
        for folders in re.findall(r"set\(TASKBUS_PROCESSES\s+([^)]*)\)", cmake):
            targets |= {f"taskbus-{Path(f).name}" for f in folders.split()}
    assert set(BINARIES) <= targets, f"CMakeLists.txt defines {targets}"
    build = " ".join(dockerfile_stages()[0][1])
    assert re.search(r"cmake\s+-S\s+\S+\s+-B\s+\S+", build), "the build stage does not configure with cmake -S/-B"
    m = re.search(r"cmake\s+--build\s+.*?--target\s+((?:taskbus-[a-z]+\s*)+)", build)
    assert m, "the build stage does not build named targets"
    built = set(m.group(1).split())
    assert built == set(BINARIES), built
    assert built <= targets, f"the Dockerfile builds targets CMakeLists.txt lacks: {built - targets}"
    assert "TASKBUS_SANITIZE=ON" not in build
    # Stripped on the way out of the build stage (install -s), every one of them.
    stripped = set()
    for step in re.split(r"&&|;|\bRUN\b", build):
        words = step.split()
        if words[:1] == ["install"] and ("-s" in words or "--strip" in words):
            stripped |= {Path(w).name for w in words if re.fullmatch(r"\S*/taskbus-[a-z]+", w)}
    assert stripped == set(BINARIES), f"binaries installed with -s (stripped): {sorted(stripped)}"


def owning_package(path):
    """The Debian package that installed the file at path (tries the /usr-merged twin)."""
    candidates = [str(path), os.path.realpath(path)]
    for c in list(candidates):
        if c.startswith("/usr/lib/"):
            candidates.append(c[4:])
        elif c.startswith("/lib/"):
            candidates.append("/usr" + c)
    for c in candidates:
        r = subprocess.run(["dpkg-query", "-S", c], capture_output=True, text=True)
        if r.returncode == 0:
            return r.stdout.split(":", 1)[0].strip()
    return None


def test_dockerfile_build_stage_installs_every_pkg_config_module():
    if not shutil.which("pkg-config") or not shutil.which("dpkg-query"):
        pytest.fail("pkg-config and dpkg-query are needed (Debian 12 with the build packages)")
    cmake = (REPO / "CMakeLists.txt").read_text()
    # the modules every binary links are listed once, in cmake/taskbus_deps.cmake
    deps = re.search(r"set\(TASKBUS_PKG_MODULES\s+([^)]*)\)", (REPO / "cmake" / "taskbus_deps.cmake").read_text())
    assert deps, "cmake/taskbus_deps.cmake sets no TASKBUS_PKG_MODULES"
    modules = []
    for block in re.findall(r"pkg_check_modules\(\s*\w+\s+REQUIRED\s+(?:IMPORTED_TARGET\s+)?([^)]*)\)", cmake):
        for word in block.split():
            modules += deps.group(1).split() if word == "${TASKBUS_PKG_MODULES}" else [word]
    assert "libpq" in modules and "rdkafka" in modules, modules
    installed = apt_packages(dockerfile_stages()[0][1])
    for mod in modules:
        r = subprocess.run(["pkg-config", "--variable=pcfiledir", mod], capture_output=True, text=True)
        assert r.returncode == 0, f"pkg-config does not know {mod}"
        pkg = owning_package(Path(r.stdout.strip()) / f"{mod}.pc")
        assert pkg, f"no Debian package owns {mod}.pc"
        assert pkg.split(":")[0] in installed, f"the build stage does not install {pkg} (for {mod}); it installs {sorted(installed)}"


def package_depends(pkgs):
    """Direct Depends of installed packages (names only), plus the packages themselves."""
    out = set(pkgs)
    for p in pkgs:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Depends}", p], capture_output=True, text=True)
        for alt in r.stdout.split(","):
            for name in alt.split("|"):
                name = name.strip().split(" ")[0].split(":")[0]
                if name:
                    out.add(name)
    return out


def test_dockerfile_runtime_has_every_library_the_binaries_load():
    bdir = build_dir()
    exes = [bdir / b for b in BINARIES] if bdir else []
    exes = [e for e in exes if e.is_file()]
    if not exes:
        pytest.fail("no built binaries in TASKBUS_BUILD_DIR (tests/run builds them first)")
    if not shutil.which("readelf") or not shutil.which("dpkg-query"):
        pytest.fail("readelf and dpkg-query are needed")
    runtime = apt_packages(dockerfile_stages()[-1][1])
    provided = package_depends(runtime) | {"libc6", "libgcc-s1"}
    ldconfig = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    for exe in exes:
        dyn = subprocess.run(["readelf", "-d", str(exe)], capture_output=True, text=True, check=True).stdout
        for soname in re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dyn):
            if re.match(r"lib(asan|ubsan|lsan|tsan)\.", soname):
                continue  # sanitizer builds (tests/run); the image builds without them
            m = re.search(rf"^\s*{re.escape(soname)} \(.*?x86-64.*?\) => (\S+)$", ldconfig, re.M) or re.search(
                rf"^\s*{re.escape(soname)} .*=> (\S+)$", ldconfig, re.M)
            assert m, f"{exe.name} needs {soname}, which ldconfig does not know"
            pkg = owning_package(m.group(1))
            assert pkg, f"no Debian package owns {m.group(1)}"
            assert pkg.split(":")[0] in provided, (
                f"{exe.name} needs {soname} from {pkg}, which the runtime stage does not install")
