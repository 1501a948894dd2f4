import os

from ketamine_bzd.pseudonym import KEY_ENV, load_key, pseudonymize


def test_keyed_hash_is_stable_and_depends_on_key_and_study():
    a = pseudonymize("ket2009", "K09-001", b"k1")
    assert a == pseudonymize("ket2009", "K09-001", b"k1")
    assert a != pseudonymize("ket2009", "K09-001", b"k2")
    assert a != pseudonymize("ket2013", "K09-001", b"k1")
    assert a.startswith("P") and len(a) == 17 and "K09" not in a


def test_key_file_created_once_and_env_wins(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    path = tmp_path / "sub" / "key"
    k1 = load_key(path)
    assert path.exists() and oct(path.stat().st_mode & 0o777) == "0o600"
    assert load_key(path) == k1 and len(k1) == 64
    monkeypatch.setenv(KEY_ENV, "from-env")
    assert load_key(path) == b"from-env"
    assert os.environ[KEY_ENV] == "from-env"
