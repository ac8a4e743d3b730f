//! The cluster commands in standalone mode: Roost has no cluster support, so CLUSTER
//! (every subcommand, HELP included), READONLY, READWRITE and ASKING answer as
//! redis-server does with `cluster-enabled no`. They are declared with Redis 7.2's
//! metadata so COMMAND INFO, DOCS and ACL categories match, and clients that probe
//! for cluster mode (CLUSTER INFO, CLUSTER SLOTS) get the answer they expect from a
//! standalone server.

use bytes::Bytes;

use super::flags::*;
use super::redis_meta::NONDETERMINISTIC_OUTPUT;
use super::{error, Ctx, Outcome, Spec, NO_KEYS};
use crate::acl::category::CONNECTION;

pub const COMMANDS: &[Spec] = &[
    super::command!(
        "cluster",
        "cluster",
        -2,
        0,
        NO_KEYS,
        disabled,
        "3.0.0",
        "A container for Redis Cluster commands."
    )
    .with_subcommands(CLUSTER_SUBCOMMANDS),
    super::command!(
        "cluster",
        "readonly",
        1,
        LOADING | STALE | FAST,
        NO_KEYS,
        disabled,
        "3.0.0",
        "Enables read-only queries for a connection to a Redis Cluster replica node."
    )
    .with_acl_categories(CONNECTION),
    super::command!(
        "cluster",
        "readwrite",
        1,
        LOADING | STALE | FAST,
        NO_KEYS,
        disabled,
        "3.0.0",
        "Enables read-write queries for a connection to a Reids Cluster replica node."
    )
    .with_acl_categories(CONNECTION),
    super::command!(
        "cluster",
        "asking",
        1,
        FAST,
        NO_KEYS,
        disabled,
        "3.0.0",
        "Signals that a cluster client is following an -ASK redirect."
    )
    .with_acl_categories(CONNECTION),
];

/// Every subcommand of Redis 7.2's CLUSTER (MYSHARDID is 7.2's; 7.0 lacks it).
const CLUSTER_SUBCOMMANDS: &[Spec] = &[
    super::command!(
        "cluster",
        "addslots",
        -3,
        ADMIN | STALE | NO_ASYNC_LOADING,
        NO_KEYS,
        disabled,
        "3.0.0",
        "Assigns new hash slots to a node."
    ),
    super::command!(
        "cluster",
        "addslotsrange",
        -4,
        ADMIN | STALE | NO_ASYNC_LOADING,
        NO_KEYS,
        disabled,
        "7.0.0",
        "Assigns new hash slot ranges to a node."
    ),
    super::command!(
        "cluster",
        "bumpepoch",
        2,
        ADMIN | STALE | NO_ASYNC_LOADING,
        NO_KEYS,
        disabled,
        "3.0.0",
        "Advances the cluster config epoch."
    )
    .with_tips(NONDETERMINISTIC_OUTPUT),
    super::command!(
        "cluster",
        "count-failure-reports",
        3,
        ADMIN | STALE,
        NO_KEYS,
        disabled,
        "3.0.0",
        "Returns the number of active failure reports active for a node."
    )
    .with_tips(NONDETERMINISTIC_OUTPUT),
    super::command!(
        "cluster",
        "countkeysinslot",
        3,
        STALE,
        NO_KEYS,
        disabled,
        "3.0.0",
        "Returns the number of keys in a hash slot."
    ),
    super::command!(
        "cluster",
        "delslots",
        -3,
        ADMIN | STALE | NO_ASYNC_LOADING,
        NO_KEYS,
        disabled,
        "3.0.0",
        "Sets hash slots as unbound for a node."
    ),
    super::command!(
        "cluster",
        "delslotsrange",
        -4,
        ADMIN | STALE | NO_ASYNC_LOADING,
        NO_KEYS,
        disabled,
        "7.0.0",
        "Sets hash slot ranges as unbound for a node."
    ),
    super::command!(
        "cluster",
        "failover",
        -2,
        ADMIN | STALE | NO_ASYNC_LOADING,
        NO_KEYS,
        disabled,
        "3.0.0",
        "Forces a replica to perform a manual failover of its master."
    ),
    super::command!(
        "cluster",
        "flushslots",
        2,
        ADMIN | STALE | NO_ASYNC_LOADING,
        NO_KEYS,
        disabled,
        "3.0.0",
        "Deletes all slots information from a node."
    ),
    super::command!(
        "cluster",
        "forget",
        3,
        ADMIN | STALE | NO_ASYNC_LOADING,
        NO_KEYS,
        disabled,
        "3.0.0",
        "Removes a node from the nodes table."
    ),
    super::command!(
        "cluster",
        "getkeysinslot",
        4,
        STALE,
        NO_KEYS,
        disabled,
        "3.0.0",
        "Returns the key names in a hash slot."
    )
    .with_tips(NONDETERMINISTIC_OUTPUT),
    super::command!(
        "cluster",
        "help",
        2,
        LOADING | STALE,
        NO_KEYS,
        disabled,
        "5.0.0",
        "Returns helpful text about the different subcommands."
    ),
    super::command!(
        "cluster",
        "info",
        2,
        STALE,
        NO_KEYS,
        disabled,
        "3.0.0",
        "Returns information about the state of a node."
    )
    .with_tips(NONDETERMINISTIC_OUTPUT),
    super::command!(
        "cluster",
        "keyslot",
        3,
        STALE,
        NO_KEYS,
        disabled,
        "3.0.0",
        "Returns the hash slot for a key."
    ),
    super::command!(
        "cluster",
        "links",
        2,
        STALE,
        NO_KEYS,
        disabled,
        "7.0.0",
        "Returns a list of all TCP links to and from peer nodes."
    )
    .with_tips(NONDETERMINISTIC_OUTPUT),
    super::command!(
        "cluster",
        "meet",
        -4,
        ADMIN | STALE | NO_ASYNC_LOADING,
        NO_KEYS,
        disabled,
        "3.0.0",
        "Forces a node to handshake with another node."
    ),
    super::command!(
        "cluster",
        "myid",
        2,
        STALE,
        NO_KEYS,
        disabled,
        "3.0.0",
        "Returns the ID of a node."
    ),
    super::command!(
        "cluster",
        "myshardid",
        2,
        STALE,
        NO_KEYS,
        disabled,
        "7.2.0",
        "Returns the shard ID of a node."
    )
    .with_tips(NONDETERMINISTIC_OUTPUT),
    super::command!(
        "cluster",
        "nodes",
        2,
        STALE,
        NO_KEYS,
        disabled,
        "3.0.0",
        "Returns the cluster configuration for a node."
    )
    .with_tips(NONDETERMINISTIC_OUTPUT),
    super::command!(
        "cluster",
        "replicas",
        3,
        ADMIN | STALE,
        NO_KEYS,
        disabled,
        "5.0.0",
        "Lists the replica nodes of a master node."
    )
    .with_tips(NONDETERMINISTIC_OUTPUT),
    super::command!(
        "cluster",
        "replicate",
        3,
        ADMIN | STALE | NO_ASYNC_LOADING,
        NO_KEYS,
        disabled,
        "3.0.0",
        "Configure a node as replica of a master node."
    ),
    super::command!(
        "cluster",
        "reset",
        -2,
        ADMIN | NOSCRIPT | STALE,
        NO_KEYS,
        disabled,
        "3.0.0",
        "Resets a node."
    ),
    super::command!(
        "cluster",
        "saveconfig",
        2,
        ADMIN | STALE | NO_ASYNC_LOADING,
        NO_KEYS,
        disabled,
        "3.0.0",
        "Forces a node to save the cluster configuration to disk."
    ),
    super::command!(
        "cluster",
        "set-config-epoch",
        3,
        ADMIN | STALE | NO_ASYNC_LOADING,
        NO_KEYS,
        disabled,
        "3.0.0",
        "Sets the configuration epoch for a new node."
    ),
    super::command!(
        "cluster",
        "setslot",
        -4,
        ADMIN | STALE | NO_ASYNC_LOADING,
        NO_KEYS,
        disabled,
        "3.0.0",
        "Binds a hash slot to a node."
    ),
    super::command!(
        "cluster",
        "shards",
        2,
        STALE,
        NO_KEYS,
        disabled,
        "7.0.0",
        "Returns the mapping of cluster slots to shards."
    )
    .with_tips(NONDETERMINISTIC_OUTPUT),
    super::command!(
        "cluster",
        "slaves",
        3,
        ADMIN | STALE,
        NO_KEYS,
        disabled,
        "3.0.0",
        "Lists the replica nodes of a master node."
    )
    .with_tips(NONDETERMINISTIC_OUTPUT),
    super::command!(
        "cluster",
        "slots",
        2,
        STALE,
        NO_KEYS,
        disabled,
        "3.0.0",
        "Returns the mapping of cluster slots to nodes."
    )
    .with_tips(NONDETERMINISTIC_OUTPUT),
];

/// Redis checks `cluster-enabled` before anything else, HELP included.
fn disabled(_ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    Err(error::CLUSTER_DISABLED)
}
