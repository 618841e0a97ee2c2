"""The Dockerfiles under images/, parsed (no Docker engine runs here): pinned versions that agree
with the Makefile and pyproject.toml, non-root numeric users, and the paths and users that
autoscaler/backends/kubernetes/manifests.py starts the Spark and Flink containers with."""

from __future__ import annotations

import re
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from autoscaler.backends.kubernetes.manifests import FLINK_HOME, FLINK_UID, SPARK_HOME, SPARK_UID
from hubscale.kube_conf import ClusterSettings
from spawner.kube import NOTEBOOK_GID, NOTEBOOK_UID

REPO = Path(__file__).resolve().parents[2]
IMAGES = REPO / "images"
NAMES = ["autoscaler", "flink", "hub", "singleuser", "spark"]
IGNORE = "Dockerfile.dockerignore"  # beside each Dockerfile that has one


@dataclass(frozen=True)
class Instruction:
    name: str  # upper case: FROM, RUN, ...
    value: str  # the rest of the logical line, continuations joined
    line: int


def parse_dockerfile(text: str) -> list[Instruction]:
    """Dockerfile instructions with their continuation lines joined; comments dropped."""
    instructions: list[Instruction] = []
    parts: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not parts):
            continue
        if not parts:
            start = number
        if stripped.endswith("\\"):
            parts.append(stripped[:-1].strip())
            continue
        parts.append(stripped)
        name, _, value = " ".join(p for p in parts if p).partition(" ")
        instructions.append(Instruction(name.upper(), value.strip(), start))
        parts = []
    assert not parts, "the file ends inside a continuation"
    return instructions


def dockerfile(name: str) -> list[Instruction]:
    return parse_dockerfile((IMAGES / name / "Dockerfile").read_text(encoding="utf-8"))


def args(instructions: list[Instruction]) -> dict[str, str]:
    """ARG defaults."""
    found = {}
    for instruction in instructions:
        if instruction.name == "ARG":
            key, _, default = instruction.value.partition("=")
            assert default, f"ARG {key} at line {instruction.line} has no default version"
            found[key] = default
    return found


def env(instructions: list[Instruction]) -> dict[str, str]:
    found: dict[str, str] = {}
    for instruction in instructions:
        if instruction.name == "ENV":
            for word in shlex.split(instruction.value):
                key, _, value = word.partition("=")
                found[key] = value
    return found


def shell_commands(script: str) -> list[list[str]]:
    """The simple commands of a RUN line (split at &&, ||, ;), each as its words."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token in ("&&", "||", ";"):
            commands.append([])
        else:
            commands[-1].append(token)
    return commands


def pip_installs(instructions: list[Instruction]) -> list[tuple[str, list[Requirement]]]:
    """(the pip that runs, its requirements with ARGs substituted) for every pip install."""
    defaults = args(instructions)
    installs = []
    for instruction in instructions:
        if instruction.name != "RUN":
            continue
        for words in shell_commands(instruction.value):
            if not words or not words[0].endswith("pip") or "install" not in words:
                continue
            pip = words[0]
            requirements = []
            for word in words[words.index("install") + 1 :]:
                if word.startswith("-") or word.startswith("."):
                    continue
                text = re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], word)
                requirements.append(Requirement(text))
            installs.append((pip, requirements))
    return installs


def makefile_variables() -> dict[str, str]:
    text = (REPO / "Makefile").read_text(encoding="utf-8")
    return dict(re.findall(r"^([A-Z_]+)\s*:=\s*(.*?)\s*$", text, re.MULTILINE))


def pyproject_requirements() -> dict[str, Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    texts = [*project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        texts += extra
    return {Requirement(text).name: Requirement(text) for text in texts}


def test_every_image_has_a_dockerfile():
    assert sorted(p.name for p in IMAGES.iterdir() if (p / "Dockerfile").is_file()) == NAMES


def test_the_example_parses_continuations_and_comments():
    text = "FROM a:1\n# comment\nRUN one \\\n    two \\\n    && three\nUSER 1000\n"
    assert parse_dockerfile(text) == [
        Instruction("FROM", "a:1", 1),
        Instruction("RUN", "one two && three", 3),
        Instruction("USER", "1000", 6),
    ]


@pytest.mark.parametrize("name", NAMES)
def test_base_image_is_pinned_to_a_version(name):
    bases = [i.value.split()[0] for i in dockerfile(name) if i.name == "FROM"]
    assert bases, "no FROM"
    for base in bases:
        tag = base.partition(":")[2]
        assert re.match(r"^\d+\.\d+\.\d+", tag), f"{base}: pin the base image to a version"


@pytest.mark.parametrize("name", NAMES)
def test_runs_as_a_numeric_non_root_user(name):
    users = [i.value for i in dockerfile(name) if i.name == "USER"]
    assert users, "no USER: the image would run as root"
    uid = users[-1].split(":")[0]
    # runAsNonRoot can only be checked by the kubelet when the user is numeric.
    assert uid.isdigit() and int(uid) != 0, f"USER {users[-1]}"


def test_the_notebook_pods_user_is_the_singleuser_images():
    """The spawner runs notebook pods as this uid (runAsNonRoot needs a numeric one); the image's
    files and the home directory belong to it."""
    users = [i.value for i in dockerfile("singleuser") if i.name == "USER"]
    assert users[-1] == str(NOTEBOOK_UID)
    runs = " ".join(i.value for i in dockerfile("singleuser") if i.name == "RUN")
    assert f"useradd --uid {NOTEBOOK_UID} --user-group" in runs  # its own group, same id
    assert NOTEBOOK_GID == NOTEBOOK_UID


@pytest.mark.parametrize("name", NAMES)
def test_every_pip_requirement_is_pinned(name):
    for pip, requirements in pip_installs(dockerfile(name)):
        for requirement in requirements:
            pins = [s for s in requirement.specifier if s.operator == "=="]
            assert pins, f"{name}: {pip} install {requirement} is not pinned with =="


def pinned(name: str, project: str) -> list[str]:
    return [
        next(iter(r.specifier)).version
        for _, requirements in pip_installs(dockerfile(name))
        for r in requirements
        if r.name == project
    ]


def test_engine_versions_agree_with_the_makefile():
    make = makefile_variables()
    assert pinned("spark", "pyspark") == [make["PYSPARK_VERSION"]]
    assert pinned("singleuser", "pyspark") == [make["PYSPARK_VERSION"]]
    assert pinned("flink", "apache-flink") == [make["APACHE_FLINK_VERSION"]]
    assert pinned("singleuser", "apache-flink") == [make["APACHE_FLINK_VERSION"]]
    ipykernel = Requirement(make["IPYKERNEL"])
    for version in pinned("singleuser", "ipykernel"):
        assert version in ipykernel.specifier, f"ipykernel {version} outside {ipykernel}"


def installed_with(name: str, engine: str) -> dict[str, str]:
    """Package -> pinned version in the image's pip install that installs ``engine``."""
    for _, requirements in pip_installs(dockerfile(name)):
        if engine in {r.name for r in requirements}:
            return {r.name: next(iter(r.specifier)).version for r in requirements}
    raise AssertionError(f"{name}: no pip install of {engine}")


@pytest.mark.parametrize(
    ("engine", "variable", "images"),
    [
        ("pyspark", "SPARK_PYTHON_PACKAGES", ("singleuser", "spark")),
        ("apache-flink", "FLINK_PYTHON_PACKAGES", ("singleuser", "flink")),
    ],
)
def test_kernels_and_engine_images_carry_the_makefiles_scientific_stack(engine, variable, images):
    """The kernel's Python and the workers' Python (pandas UDFs run on Spark's executors, Python
    UDFs on Flink's TaskManagers) have the same packages at the same versions as `make install`."""
    wanted = dict(
        (Requirement(word).name, next(iter(Requirement(word).specifier)).version)
        for word in makefile_variables()[variable].split()
    )
    assert {"numpy", "pandas", "pyarrow", "matplotlib", "scipy", "scikit-learn"} <= set(wanted)
    for image in images:
        installed = installed_with(image, engine)
        assert {name: installed.get(name) for name in wanted} == wanted, image


def test_the_spark_kernel_has_pysparks_sql_ml_and_pandas_extras_everywhere():
    make = (REPO / "Makefile").read_text(encoding="utf-8")
    assert "'pyspark[sql,ml,pandas-on-spark]==$(PYSPARK_VERSION)'" in make
    for image in ("singleuser", "spark"):
        (extras,) = [
            r.extras
            for _, requirements in pip_installs(dockerfile(image))
            for r in requirements
            if r.name == "pyspark"
        ]
        assert extras == {"sql", "ml", "pandas-on-spark"}, image


def test_proxy_version_agrees_with_the_makefile():
    assert args(dockerfile("hub"))["CHP_VERSION"] == makefile_variables()["CHP_VERSION"]
    runs = " ".join(i.value for i in dockerfile("hub") if i.name == "RUN")
    assert "configurable-http-proxy@${CHP_VERSION}" in runs


def test_hub_side_versions_satisfy_pyproject():
    declared = pyproject_requirements()
    for image in ("hub", "singleuser"):
        for _, requirements in pip_installs(dockerfile(image)):
            for requirement in requirements:
                if requirement.name in declared:
                    version = next(iter(requirement.specifier)).version
                    allowed: SpecifierSet = declared[requirement.name].specifier
                    assert version in allowed, f"{image}: {requirement} outside {allowed}"
    # The notebook servers talk to the hub: one JupyterHub version on both sides.
    assert pinned("hub", "jupyterhub") == pinned("singleuser", "jupyterhub")
    assert len(pinned("hub", "jupyterhub")) == 1


def test_the_hub_image_has_the_authenticators_the_readme_uses():
    """The chart has no default authenticator: the README's production example picks
    OAuthenticator's generic-oauth: it must be in the hub image (and the hub extra, for tests)."""
    assert len(pinned("hub", "oauthenticator")) == 1
    assert "oauthenticator" in pyproject_requirements()


def test_singleuser_keeps_each_engine_in_its_own_environment():
    environments: dict[str, set[str]] = {}
    for pip, requirements in pip_installs(dockerfile("singleuser")):
        environments.setdefault(pip, set()).update(r.name for r in requirements)
    with_spark = [pip for pip, names in environments.items() if "pyspark" in names]
    with_flink = [pip for pip, names in environments.items() if "apache-flink" in names]
    assert len(with_spark) == 1 and len(with_flink) == 1 and with_spark != with_flink
    lab = [pip for pip, names in environments.items() if "jupyterlab" in names]
    assert lab and lab[0] not in with_spark + with_flink
    assert {"jupytext", "nbdime", "jupyterlab-git"} <= environments[lab[0]]
    runs = " ".join(i.value for i in dockerfile("singleuser") if i.name == "RUN")
    # The kernels carry the names `make install` gives them locally.
    for engine in ("spark", "flink"):
        assert re.search(rf"ipykernel install --prefix \S+ --name {engine} ", runs)
    assert re.search(r"apt-get install[^&]*\bgit\b", runs)
    assert re.search(r"apt-get install[^&]*\bopenjdk-17-jre-headless\b", runs)


def kernel_installs(instructions: list[Instruction]) -> dict[str, dict[str, str]]:
    """Kernel name -> the environment its kernel.json sets (``ipykernel install --env K V``)."""
    found: dict[str, dict[str, str]] = {}
    for instruction in instructions:
        if instruction.name != "RUN":
            continue
        for words in shell_commands(instruction.value):
            if "ipykernel" in words and "install" in words:
                name = words[words.index("--name") + 1]
                found[name] = {
                    words[i + 1]: words[i + 2] for i, word in enumerate(words) if word == "--env"
                }
    return found


def test_the_images_engine_kernels_start_the_kernel_notice_as_make_install_does():
    """Each engine kernel names its engine and starts kernel_startup.py, copied beside the
    kernel_notice, head_wait and kernel_tracking modules it imports by name; the Makefile sets the
    same for local kernels."""
    instructions = dockerfile("singleuser")
    copies = [shlex.split(i.value) for i in instructions if i.name == "COPY"]
    (into,) = [words[-1] for words in copies if "spawner/kernel_startup.py" in words]
    for module in ("kernel_notice", "head_wait", "kernel_tracking"):
        assert any(f"spawner/{module}.py" in words and words[-1] == into for words in copies)
    startup = f"{into.rstrip('/')}/kernel_startup.py"
    assert kernel_installs(instructions) == {
        engine: {"HUBSCALE_KERNEL_ENGINE": engine, "PYTHONSTARTUP": startup}
        for engine in ("spark", "flink")
    }
    make = (REPO / "Makefile").read_text(encoding="utf-8")
    for engine in ("spark", "flink"):
        assert f"--env HUBSCALE_KERNEL_ENGINE {engine}" in make
    assert make.count("--env PYTHONSTARTUP $(KERNEL_STARTUP)") == 2


def build_context(name: str) -> Path:
    """Where ``docker build`` runs for the image, as its header says."""
    text = (REPO / "images" / name / "Dockerfile").read_text(encoding="utf-8")
    return REPO if "Build from the repository root" in text else REPO / "images" / name


@pytest.mark.parametrize("name", NAMES)
def test_every_copied_path_exists_in_the_build_context(name):
    context = build_context(name)
    for instruction in dockerfile(name):
        if instruction.name == "COPY":
            *sources, _ = shlex.split(instruction.value)
            for source in sources:
                assert (context / source).exists(), f"{name}: COPY {source} not in {context}"


def copied_sources(name: str) -> list[str]:
    """What the image's COPY instructions take from the build context."""
    found = []
    for instruction in dockerfile(name):
        if instruction.name == "COPY" and not instruction.value.startswith("--from"):
            *sources, _ = shlex.split(instruction.value)
            found += sources
    return found


@pytest.mark.parametrize("name", [n for n in NAMES if (REPO / "images" / n / IGNORE).exists()])
def test_every_copied_path_is_let_through_by_the_dockerignore(name):
    """BuildKit reads ``Dockerfile.dockerignore``: ours exclude everything (``*``) and let named
    paths back in; a COPY of a path not let back in fails the build."""
    lines = (REPO / "images" / name / IGNORE).read_text(encoding="utf-8").splitlines()
    assert "*" in lines
    admitted = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    for source in copied_sources(name):
        assert source.split("/")[0] in admitted, f"{name}: COPY {source} is ignored"


def test_singleuser_has_the_notebook_tools_set_up_for_every_user():
    runs = " ".join(i.value for i in dockerfile("singleuser") if i.name == "RUN")
    assert re.search(r"/opt/lab/bin/pip install [^&]*-e \S*\.\[notebooks\]", runs)
    assert "hubscale-nb setup-git" in runs  # nbdime's drivers, jupytext's pairing
    copied = {shlex.split(i.value)[0] for i in dockerfile("singleuser") if i.name == "COPY"}
    assert {"hubscale_nb", "templates"} <= copied


def test_singleuser_forwards_only_the_cluster_uis():
    """hubscale_lab and what it imports are in the image; jupyter-server-proxy's own extension,
    whose /proxy/<port>/ reaches any port, is disabled there as server_args does."""
    copied = {shlex.split(i.value)[0] for i in dockerfile("singleuser") if i.name == "COPY"}
    assert {"hubscale", "hubscale_nb", "hubscale_lab"} <= copied
    assert len(pinned("singleuser", "jupyter-server-proxy")) == 1
    runs = " ".join(i.value for i in dockerfile("singleuser") if i.name == "RUN")
    assert "jupyter server extension disable --sys-prefix jupyter_server_proxy" in runs


def test_spark_image_matches_what_the_controller_starts():
    instructions = dockerfile("spark")
    assert env(instructions)["SPARK_HOME"] == SPARK_HOME
    assert [i.value for i in instructions if i.name == "USER"][-1] == str(SPARK_UID)
    runs = " ".join(i.value for i in instructions if i.name == "RUN")
    assert f"--uid {SPARK_UID}" in runs
    assert f"{SPARK_HOME} && test -x {SPARK_HOME}/bin/spark-class" in runs
    assert "openjdk-17-jre-headless" in runs


def test_flink_image_matches_what_the_controller_starts():
    instructions = dockerfile("flink")
    variables = env(instructions)
    assert variables["FLINK_HOME"] == FLINK_HOME
    assert [i.value for i in instructions if i.name == "USER"][-1] == str(FLINK_UID)
    runs = " ".join(i.value for i in instructions if i.name == "RUN")
    assert f"--uid {FLINK_UID}" in runs
    assert f"{FLINK_HOME} && test -x {FLINK_HOME}/bin/jobmanager.sh" in runs
    # PyFlink's UDF workers run `python3` (ClusterSettings.flink_python) from PATH: the first
    # PATH entry must be the environment apache-flink is installed in.
    assert ClusterSettings("ns", "s", "f").flink_python == "python3"
    first = variables["PATH"].split(":")[0]
    flink_pips = [
        pip for pip, reqs in pip_installs(instructions) if "apache-flink" in {r.name for r in reqs}
    ]
    assert flink_pips == [f"{first}/pip"]


@pytest.mark.parametrize("name", ["hub", "singleuser"])
def test_images_that_run_jupyter_drop_the_slow_iri_validator_after_installing(name: str):
    """The Makefile's SLOW_IMPORTS, in the images too: pip check runs after the uninstall."""
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    dropped = re.search(r"^SLOW_IMPORTS := (.+)$", makefile, re.MULTILINE).group(1).split()
    runs = [i.value for i in dockerfile(name) if i.name == "RUN" and " install " in i.value]
    installing = next(run for run in runs if "jupyterhub==" in run)
    for package in dropped:
        uninstall = installing.index(f"uninstall --yes {package}")
        assert installing.index("install ") < uninstall < installing.rindex("pip check")
