"""The spawners' shared module: user_options checked, ComputeClusters built, the spawn form."""

from __future__ import annotations

import copy
import html
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import assume, example, given
from hypothesis import strategies as st

from hubscale import names
from hubscale.names import USER_LABEL, label_value, labels, user_label
from hubscale.spec import cluster_to_yaml, load_cluster_yaml, parse_cluster
from spawner.compute import (
    FORM_INTEGER_DIGITS,
    Resolved,
    UserOptionsError,
    cluster_name,
    compute_clusters,
    options_form,
    options_from_form,
    resolve_options,
)
from spawner.notebook_pod import pod_labels
from spawner.profiles import Profiles, load_profiles

SHIPPED = Path(__file__).resolve().parents[2] / "hub_config" / "profiles.yaml"
PROFILES = load_profiles(SHIPPED)
DNS_1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
OPTION_NAMES = ["spark_max_workers", "flink_max_workers", "idle_timeout_seconds"]


def profiles_with(**changes: Any) -> Profiles:
    """The shipped profiles with keys of the first profile changed."""
    data = yaml.safe_load(SHIPPED.read_text())
    data["profiles"][0].update(changes)
    return load_profiles(yaml.safe_dump(data))


def options_error(user_options: Any, profiles: Profiles = PROFILES) -> UserOptionsError:
    with pytest.raises(UserOptionsError) as caught:
        resolve_options(profiles, user_options)
    return caught.value


# resolve_options


def test_no_options_give_the_default_profile_and_its_values():
    resolved = resolve_options(PROFILES, {})
    assert resolved.profile.name == "small"
    assert resolved.options == {
        "spark_max_workers": 4,
        "flink_max_workers": 2,
        "idle_timeout_seconds": 600,
    }


def test_chosen_profile_and_options_are_applied():
    options = {"profile": "large", "spark_max_workers": 3, "idle_timeout_seconds": 60}
    resolved = resolve_options(PROFILES, options)
    assert resolved.profile.name == "large"
    assert resolved.options == {
        "spark_max_workers": 3,
        "flink_max_workers": 4,
        "idle_timeout_seconds": 60,
    }


@pytest.mark.parametrize(
    ("user_options", "option", "message"),
    [
        (
            {"gpus": 1},
            "gpus",
            "unknown option (known: profile, spark_max_workers, flink_max_workers, "
            "idle_timeout_seconds)",
        ),
        ({"profile": "huge"}, "profile", "unknown profile 'huge' (choose one of small, large)"),
        ({"profile": 3}, "profile", "must be a string, got int 3"),
        ({"profile": None}, "profile", "must be a string, got null"),
        (
            {"spark_max_workers": 9},
            "spark_max_workers",
            "must be at most 4 in profile 'small', got 9",
        ),
        (
            {"profile": "large", "spark_max_workers": 9},
            "spark_max_workers",
            "must be at most 8 in profile 'large', got 9",
        ),
        ({"flink_max_workers": 3}, "flink_max_workers", "must be at most 2 in profile 'small'"),
        ({"flink_max_workers": -1}, "flink_max_workers", "must be at least 0 in profile 'small'"),
        ({"idle_timeout_seconds": 30}, "idle_timeout_seconds", "must be at least 60 in profile"),
        ({"idle_timeout_seconds": 10**6}, "idle_timeout_seconds", "must be at most 3600 in prof"),
        ({"spark_max_workers": "3"}, "spark_max_workers", "must be an integer, got str '3'"),
        ({"spark_max_workers": True}, "spark_max_workers", "must be an integer, got bool true"),
        ({"spark_max_workers": 2.0}, "spark_max_workers", "must be an integer, got float 2.0"),
        ({"spark_max_workers": None}, "spark_max_workers", "must be an integer, got null"),
        ({"spark_max_workers": [2]}, "spark_max_workers", "must be an integer, got list [2]"),
    ],
)
def test_bad_user_options_name_the_option(user_options, option, message):
    err = options_error(user_options)
    assert err.option == option
    assert err.message.startswith(message)
    assert str(err) == f"{option}: {err.message}"


def test_message_reads_as_documented():
    assert str(options_error({"spark_max_workers": 9})) == (
        "spark_max_workers: must be at most 4 in profile 'small', got 9"
    )


def test_option_a_profile_does_not_offer_is_rejected():
    fixed = profiles_with(userOptions={"idle_timeout_seconds": {"min": 60, "max": 600}})
    assert resolve_options(fixed, {}).options == {"idle_timeout_seconds": 600}
    err = options_error({"spark_max_workers": 2}, fixed)
    assert str(err) == "spark_max_workers: cannot be changed in profile 'small'"


def test_user_options_that_are_not_a_mapping_are_rejected():
    err = options_error(["profile", "small"])
    assert (err.option, err.message) == (
        "user_options",
        "must be a mapping, got list ['profile', 'small']",
    )


def test_rejected_options_leave_the_input_untouched():
    user_options = {"profile": "large", "spark_max_workers": 3, "flink_max_workers": 99}
    before = copy.deepcopy(user_options)
    options_error(user_options)
    assert user_options == before


option_values = st.none() | st.booleans() | st.integers(-10, 5000) | st.floats() | st.text()


@given(
    st.dictionaries(
        st.sampled_from(["profile", *OPTION_NAMES, "other"]),
        st.sampled_from(["small", "large", "tiny"]) | option_values,
        max_size=5,
    )
)
def test_any_user_options_resolve_within_bounds_or_name_a_given_key(user_options):
    try:
        resolved = resolve_options(PROFILES, user_options)
    except UserOptionsError as err:
        assert err.option in user_options
        return
    bounds = resolved.profile.allowed_options()
    for name, value in resolved.options.items():
        assert bounds[name].min <= value <= bounds[name].max
        assert value == user_options.get(name, resolved.profile.default_value(name))


# compute_clusters


def test_clusters_carry_owner_server_engine_labels_and_the_exact_user():
    resolved = resolve_options(PROFILES, {"profile": "large", "flink_max_workers": 1})
    spark, flink = compute_clusters("Alice@Example.org", "gpu box", resolved)
    assert [spark.spec.engine, flink.spec.engine] == ["spark", "flink"]
    for cluster in (spark, flink):
        assert (cluster.spec.owner, cluster.spec.server) == ("Alice@Example.org", "gpu box")
        assert cluster.metadata.name == cluster_name(
            "Alice@Example.org", "gpu box", cluster.spec.engine
        )
        assert cluster.metadata.annotations == {
            "hubscale.io/user": "Alice@Example.org",
            "hubscale.io/server": "gpu box",
        }
        labels = cluster.metadata.labels
        assert labels is not None
        assert labels["hubscale.io/engine"] == cluster.spec.engine
        assert labels["hubscale.io/user"] == label_value("Alice@Example.org")
        assert labels["hubscale.io/server"] == label_value("gpu box")
        assert labels["hubscale.io/profile"] == "large"
        assert all(LABEL_VALUE.match(value) and len(value) <= 63 for value in labels.values())
    assert spark.spec.to_document() == {
        "owner": "Alice@Example.org",
        "server": "gpu box",
        "engine": "spark",
        "minWorkers": 0,
        "maxWorkers": 8,
        "worker": {"cores": 2, "memory": "4Gi"},
        "idleTimeoutSeconds": 600,
    }
    assert (flink.spec.max_workers, flink.spec.worker.memory) == (1, "4Gi")


@pytest.mark.parametrize("user", ["José Müller", "ренат", "佐藤", "Zoë@example.org"])
def test_a_non_ascii_user_has_one_label_on_clusters_their_objects_and_the_notebook_pod(user):
    """The spawner's ComputeClusters, the controller's objects and the notebook pod spell the
    user label alike (for people and dashboards: no NetworkPolicy selects by it)."""
    resolved = resolve_options(PROFILES, {})
    clusters = compute_clusters(user, "", resolved)
    seen = {
        *(cluster.metadata.labels[USER_LABEL] for cluster in clusters),
        *(labels(cluster, "worker")[USER_LABEL] for cluster in clusters),
        pod_labels(user, {c.spec.engine: c.metadata.name for c in clusters})[USER_LABEL],
    }
    assert seen == {user_label(user)}
    assert LABEL_VALUE.match(user_label(user)) and len(user_label(user)) <= 63
    assert user_label(user) != user_label(user + "x")


def test_accents_fold_into_the_readable_part_of_a_label():
    assert label_value("José Müller").startswith("Jose-Muller---")


def test_idle_timeout_option_applies_to_both_clusters():
    resolved = resolve_options(PROFILES, {"idle_timeout_seconds": 120})
    assert [c.spec.idle_timeout_seconds for c in compute_clusters("bob", "", resolved)] == [
        120,
        120,
    ]


@given(
    user=st.text(min_size=1, max_size=300).filter(lambda s: "/" not in s and s.isprintable()),
    server=st.text(max_size=300).filter(lambda s: "/" not in s and s.isprintable()),
    profile=st.sampled_from(["small", "large"]),
)
def test_clusters_round_trip_through_the_document(user, server, profile):
    assume(len(user) <= 253 and len(server) <= 253)
    for cluster in compute_clusters(user, server, resolve_options(PROFILES, {"profile": profile})):
        assert parse_cluster(cluster.to_document()) == cluster
        assert load_cluster_yaml(cluster_to_yaml(cluster)) == cluster


# Names and labels


def test_cluster_name_is_readable_and_stable():
    """The hash is 64 bits: no one searches out a server name whose cluster name is another's
    (32 bits took hours), and the spawners refuse another's object anyway."""
    assert cluster_name("alice", "", "spark") == "alice-spark-45f508910f076db7"
    assert cluster_name("alice", "", "flink") == "alice-flink-20eac43784337232"
    assert cluster_name("Alice.Smith", "GPU box", "spark").startswith("alice-smith-gpu-box-spark-")
    assert cluster_name("42", "", "spark").startswith("u-42-spark-")
    assert cluster_name("日本", "", "spark").startswith("spark-")


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("Alice", "", "spark"), ("alice", "", "spark")),
        (("a.b", "", "spark"), ("a-b", "", "spark")),
        (("a_b", "", "spark"), ("a-b", "", "spark")),
        (("alice", "x", "spark"), ("alice-x", "", "spark")),
        (("alice", "", "spark"), ("alice", "", "flink")),
        (("x" * 80 + "1", "", "spark"), ("x" * 80 + "2", "", "spark")),
    ],
)
def test_names_that_escape_alike_stay_distinct(first, second):
    assert cluster_name(*first) != cluster_name(*second)


name_texts = st.text(alphabet="aAbB.-_ 1é@", max_size=70) | st.text(max_size=100)
triples = st.tuples(name_texts, name_texts, st.sampled_from(["spark", "flink"]))


@given(triples)
def test_cluster_name_is_a_dns_label(triple):
    name = cluster_name(*triple)
    assert len(name) <= 51
    assert DNS_1035_LABEL.match(name), name
    assert cluster_name(*triple) == name


@given(triples)
@example(("a" * 70, "", "flink"))
@example(("firstname.lastname@example.org", "a long server name", "spark"))
def test_every_object_of_a_cluster_is_named_cluster_dash_role(triple):
    """Cluster names leave room for every child's suffix, so no child name is ever cut and
    hashed again (a second, 32-bit, hash two clusters' children could share)."""
    name = cluster_name(*triple)
    children = [
        names.config_secret_name(name),
        names.policy_name(name),
        names.driver_policy_name(name),
        *(names.head_name(name, engine) for engine in ("spark", "flink")),
        *(names.worker_name(name, engine) for engine in ("spark", "flink")),
    ]
    for child in children:
        assert child.startswith(f"{name}-") and DNS_1035_LABEL.match(child) and len(child) <= 63


@given(triples, triples)
def test_distinct_triples_get_distinct_names(first, second):
    assume(first != second)
    assert cluster_name(*first) != cluster_name(*second)


def test_label_value_keeps_valid_values_and_hashes_the_rest():
    assert label_value("alice") == "alice"
    assert label_value("Alice.Smith_2") == "Alice.Smith_2"
    assert label_value("") == ""
    assert label_value("alice@example.org").startswith("alice-example.org---")
    assert label_value("alice@x") != label_value("alice#x")
    assert label_value("a--b").startswith("a-b---")  # valid, but spelled like an escaped one
    assert label_value("日本").startswith("x---")


def test_a_user_named_like_anothers_escaped_label_gets_a_label_of_their_own():
    """Issue 14, finding 1: ``jane-doe-ed37d99b`` was the label of ``jane doe``."""
    assert user_label("jane doe") != user_label("jane-doe-ed37d99b")
    assert user_label(user_label("jane doe")) != user_label("jane doe")
    assert user_label("jane-doe-ed37d99b") == "jane-doe-ed37d99b"  # a valid name is kept


texts = st.text(alphabet="aAbB.-_ 1é@日", max_size=70) | st.text(max_size=100)


@st.composite
def name_pairs(draw: st.DrawFn) -> tuple[str, str]:
    """Two names, the second often spelled like the first's label or a near miss of it."""
    first = draw(texts)
    label = label_value(first)
    second = draw(
        st.sampled_from([label, label + "x", label[:-1], label.replace("---", "-")]) | texts
    )
    return first, second


@given(name_pairs())
def test_two_different_names_never_share_a_label(pair):
    first, second = pair
    assume(first != second)
    assert label_value(first) != label_value(second)


@given(st.text(max_size=100))
def test_label_value_is_always_a_valid_label(text):
    value = label_value(text)
    assert len(value) <= 63
    assert LABEL_VALUE.match(value), value


# The spawn form


class FormParser(HTMLParser):
    """Collects the tags and text of an HTML fragment."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_form(profiles: Profiles) -> FormParser:
    parser = FormParser()
    parser.feed(options_form(profiles))
    parser.close()
    return parser


def test_form_has_a_radio_per_profile_with_the_default_checked():
    radios = [attrs for tag, attrs in parse_form(PROFILES).tags if attrs.get("type") == "radio"]
    assert [(r["name"], r["value"], "checked" in r) for r in radios] == [
        ("profile", "small", True),
        ("profile", "large", False),
    ]


def test_form_has_number_inputs_with_the_profile_bounds():
    numbers = {
        attrs["name"]: (attrs["min"], attrs["max"], attrs["value"])
        for tag, attrs in parse_form(PROFILES).tags
        if attrs.get("type") == "number"
    }
    assert numbers == {
        "small.spark_max_workers": ("0", "4", "4"),
        "small.flink_max_workers": ("0", "2", "2"),
        "small.idle_timeout_seconds": ("60", "3600", "600"),
        "large.spark_max_workers": ("0", "8", "8"),
        "large.flink_max_workers": ("0", "4", "4"),
        "large.idle_timeout_seconds": ("60", "3600", "600"),
    }


def test_form_escapes_descriptions_and_names():
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)> & "quotes"'
    profiles = profiles_with(description=evil, displayName='Small" onclick="alert(1)')
    form = options_form(profiles)
    assert "<script>" not in form and "<img" not in form
    assert html.escape(evil, quote=True) in form
    parsed = parse_form(profiles)
    assert {tag for tag, _ in parsed.tags} <= {"div", "input", "label", "strong", "p"}
    assert not any("onclick" in attrs or "onerror" in attrs for _, attrs in parsed.tags)
    assert evil in parsed.text
    assert 'Small" onclick="alert(1)' in parsed.text


def test_a_submitted_form_resolves_to_the_chosen_profile():
    formdata = {
        "_xsrf": ["token"],
        "profile": ["large"],
        "small.spark_max_workers": ["4"],
        "large.spark_max_workers": ["6"],
        "large.flink_max_workers": [""],
        "large.idle_timeout_seconds": [" 900 "],
    }
    options = options_from_form(formdata)
    assert options == {"profile": "large", "spark_max_workers": 6, "idle_timeout_seconds": 900}
    resolved = resolve_options(PROFILES, options)
    assert resolved == Resolved(
        PROFILES.profiles[1],
        {"spark_max_workers": 6, "flink_max_workers": 4, "idle_timeout_seconds": 900},
    )


def test_plain_option_fields_and_unknown_fields_pass_through():
    options = options_from_form({"spark_max_workers": ["2"], "colour": ["red"]})
    assert options == {"spark_max_workers": 2, "colour": "red"}
    assert options_error(options).option == "colour"


@pytest.mark.parametrize("text", ["abc", "4.0", "1e3", "1_000", "٣", "4 workers"])
def test_form_number_that_is_not_a_whole_number_names_the_option(text):
    with pytest.raises(UserOptionsError) as caught:
        options_from_form({"profile": ["small"], "small.spark_max_workers": [text]})
    assert str(caught.value) == f"spark_max_workers: must be a whole number, got {text!r}"


def test_form_numbers_out_of_bounds_are_caught_by_resolve():
    options = options_from_form({"profile": ["small"], "small.flink_max_workers": ["-3"]})
    assert options == {"profile": "small", "flink_max_workers": -3}
    assert str(options_error(options)) == (
        "flink_max_workers: must be at least 0 in profile 'small', got -3"
    )


@pytest.mark.parametrize(
    ("formdata", "option"),
    [
        ({"profile": ["small", "large"]}, "profile"),
        ({"spark_max_workers": ["1", "2"]}, "spark_max_workers"),
        (
            {"profile": ["small"], "spark_max_workers": ["1"], "small.spark_max_workers": ["2"]},
            "spark_max_workers",
        ),
        ({"small.spark_max_workers": ["2"]}, "profile"),
    ],
)
def test_ambiguous_form_names_the_field(formdata, option):
    with pytest.raises(UserOptionsError) as caught:
        options_from_form(formdata)
    assert caught.value.option == option


@pytest.mark.parametrize("sign", ["", "-", "+"])
def test_a_form_number_too_long_for_int_is_a_400_naming_the_option(sign):
    text = sign + "9" * 5000  # int() refuses more than 4,300 digits with a bare ValueError
    with pytest.raises(UserOptionsError) as caught:
        options_from_form({"profile": ["small"], "small.spark_max_workers": [text]})
    assert caught.value.option == "spark_max_workers"
    digits = f"at most {FORM_INTEGER_DIGITS} digits"
    assert caught.value.message == f"must be a whole number of {digits}, got {len(text)} characters"


def test_a_long_bad_form_value_is_quoted_short():
    with pytest.raises(UserOptionsError) as caught:
        options_from_form({"profile": ["small"], "small.spark_max_workers": ["x" * 10_000]})
    assert len(str(caught.value)) < 120


form_keys = st.sampled_from(
    [
        "profile",
        "_xsrf",
        *OPTION_NAMES,
        *(f"{p}.{o}" for p in ("small", "large") for o in OPTION_NAMES),
    ]
) | st.text(max_size=12)
form_texts = st.sampled_from(["small", "large", " 2 ", "-1", "+3", "٣", "1e3", "0x10"]) | st.text(
    max_size=12
)


@given(st.dictionaries(form_keys, st.lists(form_texts, max_size=2), max_size=6))
def test_any_submitted_form_resolves_or_is_a_user_options_error_naming_a_field(formdata):
    """What the hub does with a POSTed form: parse it, then resolve it against the profiles."""
    try:
        resolved = resolve_options(PROFILES, options_from_form(formdata))
    except UserOptionsError as err:
        named = {*formdata, *(key.rpartition(".")[2] for key in formdata)}
        assert err.option in {"profile", *named}
        return
    bounds = resolved.profile.allowed_options()
    for name, value in resolved.options.items():
        assert bounds[name].min <= value <= bounds[name].max
