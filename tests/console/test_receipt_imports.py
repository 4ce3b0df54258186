"""The console's imports page shows receipt-history imports (loyalty-central import-receipts) as jobs."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from central.cli import cli
from tests.console.conftest import login

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql


def test_a_receipt_import_is_a_job_on_the_imports_page(client, db_file, tmp_path):
    path = tmp_path / "history.csv"
    path.write_text(
        "receipt,store,date,card,sku,amount,accrued\n"
        "R1,S1,2017-03-01 10:00,77,A,10.00,5\nR1,S1,2017-03-01 10:00,77,B,2.50,0\n"
        "R2,S2,2017-03-02 11:00,,A,1.00,0\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["import-receipts", str(path), "--quiet", "--db", db_file])
    assert result.exit_code == 0, result.output
    login(client, "admin")
    page = client.get("/imports/").get_data(as_text=True)
    assert 'id="receipt-imports"' in page and "history.csv" in page and "width: 100%" in page
    ident = page.split('id="receipt-imports"')[1].split("/imports/")[1].split('"')[0]
    job = client.get(f"/imports/{ident}").get_data(as_text=True)
    assert 'id="receipt-import"' in job and ">2<" in job  # two receipts
    status = client.get(f"/imports/{ident}.json").get_json()
    assert status["state"] == "done" and status["done"] == status["total"] == 3
