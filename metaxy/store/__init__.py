"""Metadata stores: the base API shared by every backend plugin."""

from metaxy.store.base import AccessMode, Increment, LazyIncrement, MetadataStore, Status
from metaxy.store.contract import StoreContract
from metaxy.store.locks import NamedLocks, database_lock, file_lock

__all__ = [
    "AccessMode",
    "Increment",
    "LazyIncrement",
    "MetadataStore",
    "NamedLocks",
    "Status",
    "StoreContract",
    "database_lock",
    "file_lock",
]
