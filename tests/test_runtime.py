from __future__ import annotations

from pathlib import Path

from firstline.runtime import Runtime, triage_model_path
from firstline.settings import load_settings
from firstline.ticketing import NewTicket


def test_runtime_builds_each_part_once_from_settings(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data")
    with Runtime(settings) as runtime:
        assert runtime.tickets is runtime.tickets
        ticket = runtime.tickets.create(
            NewTicket(requester="j.okafor@nwmeridian.co.uk", short_description="VPN drops", correlation_id="c-1")
        )
        assert ticket.number.startswith("INC")
        assert runtime.embedder is runtime.knowledge.embedder
        assert runtime.triage.embedder is runtime.embedder
    assert (tmp_path / "data" / "tickets.db").exists()
    with Runtime(settings) as again:
        assert again.tickets.get(ticket.number).short_description == "VPN drops"


def test_a_locally_trained_triage_model_wins(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    assert triage_model_path(settings).name == "triage-model.npz"
    assert "helpdesk" in str(triage_model_path(settings))
    local = tmp_path / "models" / "triage-model.npz"
    local.parent.mkdir()
    local.write_bytes(b"x")
    assert triage_model_path(settings) == local


def test_runtime_directory_is_the_seeded_demo_org(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    with Runtime(settings) as runtime:
        locked = [p for p in ("p019", "p028") if runtime.directory.account(p).locked]
        assert locked, "the demo org has locked accounts to unlock"
        runtime.directory.unlock_account(runtime.directory.account(locked[0]).username)
    with Runtime(settings) as again:  # re-seeding keeps the change
        assert not again.directory.account(locked[0]).locked


def test_ldap_backend_needs_its_settings(tmp_path: Path) -> None:
    import pytest

    from firstline.errors import ConfigError

    with pytest.raises(ConfigError, match="ldap_url, ldap_bind_dn, ldap_password, ldap_base_dn"):
        load_settings(data_dir=tmp_path, directory={"backend": "ldap"})


def test_the_runtime_keeps_blas_to_one_thread(tmp_path: Path) -> None:
    """A turn's matrix products are tiny; a second OpenBLAS thread only spun, doubling a turn's CPU."""
    import numpy as np
    from threadpoolctl import threadpool_info, threadpool_limits

    np.ones((64, 64)) @ np.ones((64, 64))  # BLAS loaded
    # threadpool_limits(None): the test leaves the process's limits as it found them
    with threadpool_limits(limits=None), Runtime(load_settings(data_dir=tmp_path)):
        blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
        assert blas and all(pool["num_threads"] == 1 for pool in blas)
