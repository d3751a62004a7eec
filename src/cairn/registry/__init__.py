"""Model registry: log models as numbered versions with signatures, move aliases (with their
history), load any version by URI, and trace a version back to its run, code and data.

A third-party flavor is an object following ``Flavor``, announced by a plugin whose
``@cairn.registry.hookimpl``-marked ``cairn_model_flavors()`` returns it, under the ``cairn``
entry-point group.
"""

from __future__ import annotations

from cairn.core.hookspecs import hookimpl
from cairn.registry._gc import clear_load_cache, drop_deleted_files
from cairn.registry._load import LoadedModel, export_model, load_model
from cairn.registry._log import log_model
from cairn.registry.catalog import (
    alias_history,
    delete_alias,
    delete_version,
    describe,
    get_model,
    get_model_version,
    list_models,
    list_versions,
    restore_version,
    set_alias,
    set_model_tags,
)
from cairn.registry.flavors import Flavor, all_flavors
from cairn.registry.lineage import LineageNode, model_lineage
from cairn.registry.model_version import AliasMove, ModelFile, ModelVersion, RegisteredModel
from cairn.registry.promote import Check, Comparison, Promotion, compare_models, parse_rule, promote
from cairn.registry.python_model import ModelContext, PythonModel
from cairn.registry.signature import ColumnSpec, Signature, TensorSpec, infer_signature

__all__ = [
    "AliasMove",
    "Check",
    "ColumnSpec",
    "Comparison",
    "Flavor",
    "LineageNode",
    "LoadedModel",
    "ModelContext",
    "ModelFile",
    "ModelVersion",
    "Promotion",
    "PythonModel",
    "RegisteredModel",
    "Signature",
    "TensorSpec",
    "alias_history",
    "all_flavors",
    "clear_load_cache",
    "compare_models",
    "delete_alias",
    "delete_version",
    "describe",
    "drop_deleted_files",
    "export_model",
    "get_model",
    "get_model_version",
    "hookimpl",
    "infer_signature",
    "list_models",
    "list_versions",
    "load_model",
    "log_model",
    "model_lineage",
    "parse_rule",
    "promote",
    "restore_version",
    "set_alias",
    "set_model_tags",
]
