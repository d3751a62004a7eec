"""Model registry: log models as numbered versions with signatures, move aliases (with their
history), load any version by URI, and trace a version back to its run, code and data.

A third-party flavor is an object following ``Flavor``, announced by a plugin whose
``@cairn.registry.hookimpl``-marked ``cairn_model_flavors()`` returns it, under the ``cairn``
entry-point group.

Names are imported on first use (module ``__getattr__``): loading a model by URI needs none of
the store's SQLAlchemy (see ``_lean``), and ``import cairn.registry`` costs next to nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cairn.core.hookspecs import hookimpl
from cairn.core.lazy import lazy_attributes

if TYPE_CHECKING:
    from cairn.registry._gc import clear_load_cache, drop_deleted_files
    from cairn.registry._lean import list_models_lean
    from cairn.registry._load import LoadedModel, export_model, load_model
    from cairn.registry._log import SavedModel, log_model, register_model, save_model
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
        rollback_alias,
        set_alias,
        set_model_tags,
    )
    from cairn.registry.flavors import Flavor, all_flavors
    from cairn.registry.graph import GraphEdge, GraphNode, LineageGraph, lineage_graph
    from cairn.registry.lineage import LineageNode, model_inputs_from, model_lineage
    from cairn.registry.model_version import AliasMove, ModelFile, ModelVersion, RegisteredModel
    from cairn.registry.promote import (
        Check,
        Comparison,
        Promotion,
        compare_models,
        evaluate_rule,
        parse_rule,
        promote,
        rule_references,
    )
    from cairn.registry.python_model import ModelContext, PythonModel
    from cairn.registry.signature import (
        ColumnSpec,
        Signature,
        TensorSpec,
        infer_signature,
        signature_changes,
    )

_LAZY = {
    "AliasMove": "cairn.registry.model_version",
    "Check": "cairn.registry.promote",
    "ColumnSpec": "cairn.registry.signature",
    "Comparison": "cairn.registry.promote",
    "Flavor": "cairn.registry.flavors",
    "GraphEdge": "cairn.registry.graph",
    "GraphNode": "cairn.registry.graph",
    "LineageGraph": "cairn.registry.graph",
    "LineageNode": "cairn.registry.lineage",
    "LoadedModel": "cairn.registry._load",
    "ModelContext": "cairn.registry.python_model",
    "ModelFile": "cairn.registry.model_version",
    "ModelVersion": "cairn.registry.model_version",
    "Promotion": "cairn.registry.promote",
    "PythonModel": "cairn.registry.python_model",
    "RegisteredModel": "cairn.registry.model_version",
    "Signature": "cairn.registry.signature",
    "TensorSpec": "cairn.registry.signature",
    "alias_history": "cairn.registry.catalog",
    "all_flavors": "cairn.registry.flavors",
    "clear_load_cache": "cairn.registry._gc",
    "compare_models": "cairn.registry.promote",
    "delete_alias": "cairn.registry.catalog",
    "delete_version": "cairn.registry.catalog",
    "describe": "cairn.registry.catalog",
    "drop_deleted_files": "cairn.registry._gc",
    "evaluate_rule": "cairn.registry.promote",
    "export_model": "cairn.registry._load",
    "get_model": "cairn.registry.catalog",
    "get_model_version": "cairn.registry.catalog",
    "infer_signature": "cairn.registry.signature",
    "lineage_graph": "cairn.registry.graph",
    "list_models": "cairn.registry.catalog",
    "list_versions": "cairn.registry.catalog",
    "load_model": "cairn.registry._load",
    "log_model": "cairn.registry._log",
    "register_model": "cairn.registry._log",
    "save_model": "cairn.registry._log",
    "SavedModel": "cairn.registry._log",
    "model_inputs_from": "cairn.registry.lineage",
    "model_lineage": "cairn.registry.lineage",
    "parse_rule": "cairn.registry.promote",
    "promote": "cairn.registry.promote",
    "restore_version": "cairn.registry.catalog",
    "rollback_alias": "cairn.registry.catalog",
    "rule_references": "cairn.registry.promote",
    "set_alias": "cairn.registry.catalog",
    "set_model_tags": "cairn.registry.catalog",
    "signature_changes": "cairn.registry.signature",
    "list_models_lean": "cairn.registry._lean",
}

__all__ = [
    "AliasMove",
    "Check",
    "ColumnSpec",
    "Comparison",
    "Flavor",
    "GraphEdge",
    "GraphNode",
    "LineageGraph",
    "LineageNode",
    "LoadedModel",
    "ModelContext",
    "ModelFile",
    "ModelVersion",
    "Promotion",
    "PythonModel",
    "RegisteredModel",
    "SavedModel",
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
    "evaluate_rule",
    "export_model",
    "get_model",
    "get_model_version",
    "hookimpl",
    "infer_signature",
    "lineage_graph",
    "list_models",
    "list_models_lean",
    "list_versions",
    "load_model",
    "log_model",
    "model_inputs_from",
    "model_lineage",
    "parse_rule",
    "promote",
    "register_model",
    "restore_version",
    "rollback_alias",
    "rule_references",
    "save_model",
    "set_alias",
    "set_model_tags",
    "signature_changes",
]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, __all__)
