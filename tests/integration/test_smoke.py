from tests.conftest import Api, ChangeFactory


def test_post_apply_read(api: Api, change: ChangeFactory) -> None:
    r = api.post("crm", change("client", "A-17", 1, name="Acme Ltd", website="https://acme.com"))
    assert r.status_code == 202, r.text  # type: ignore[attr-defined]
    api.apply()
    g = api.golden_of("crm", "client", "A-17")
    assert g["attributes"] == {"name": "Acme Ltd", "website": "https://acme.com"}
