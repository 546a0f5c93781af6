"""The TypeScript documents that GraphQL Code Generator builds from clients/.

The test runs the committed configuration ``clients/typescript/codegen.ts``
(client preset) over ``schema.graphql`` and ``clients/operations``, then
type-checks the output with ``src/dashboard.ts`` under strict TypeScript.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.servers.tools import install_node_packages

TYPESCRIPT_CLIENT = Path(__file__).resolve().parents[1] / "clients" / "typescript"
BIN = TYPESCRIPT_CLIENT / "node_modules" / ".bin"
GENERATED = TYPESCRIPT_CLIENT / "generated"
TOOL_TIMEOUT = 180.0

MISUSE = """
import type { AccountsNeedingReauthQuery } from './graphql';

export function tenantNumber(data: AccountsNeedingReauthQuery): number {
  const first = data.integratedAccounts.nodes[0];
  return first === undefined ? 0 : first.tenantId;
}
"""


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(command),
        cwd=TYPESCRIPT_CLIENT,
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT,
        check=False,
    )


@pytest.fixture(scope="module")
def generated() -> Path:
    install_node_packages(TYPESCRIPT_CLIENT)
    result = _run(str(BIN / "graphql-codegen"), "--config", "codegen.ts")
    assert result.returncode == 0, result.stdout + result.stderr
    return GENERATED / "graphql.ts"


def test_codegen_types_operation_results(generated: Path) -> None:
    source = generated.read_text(encoding="utf-8")

    assert "export type AccountsNeedingReauthQuery = " in source
    assert "export type AccountEventsSubscription = " in source
    assert "export const RevalidateAccountDocument = " in source


def test_codegen_maps_custom_scalars(generated: Path) -> None:
    source = generated.read_text(encoding="utf-8")

    assert "updatedAt: string" in source
    assert "context: unknown" in source


def test_generated_code_passes_typecheck(generated: Path) -> None:
    result = _run(str(BIN / "tsc"), "--noEmit", "-p", "tsconfig.json")

    assert result.returncode == 0, result.stdout


def test_typecheck_rejects_wrong_result_type(generated: Path) -> None:
    misuse = generated.parent / "misuse.ts"
    misuse.write_text(MISUSE, encoding="utf-8")
    try:
        result = _run(str(BIN / "tsc"), "--noEmit", "-p", "tsconfig.json")
    finally:
        misuse.unlink()

    assert result.returncode != 0
    assert "misuse.ts" in result.stdout
    assert "Type 'string' is not assignable to type 'number'" in result.stdout
