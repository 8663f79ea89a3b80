"""The kazoo-driven compat suite (tests/compat) against a 3-server reference ensemble: the same test functions,
with a `server` fixture that is a cluster. Clients are pinned to a follower, so every write is forwarded to the
leader, ordered, replicated and applied before the follower answers.

The tests are imported by name (every compat test that the standalone reference server passed when this list
was made, 101 of them), so compat tests added later for wire details the standalone server does not match yet do
not show up here as replication failures. Left out on purpose: four-letter words (they check Mode: standalone),
persistence (restarts one server; test_cluster.py covers the ensemble's), the external kazoo suite and zkCli.
"""
from __future__ import annotations

from typing import Iterator

import pytest

from tests.cluster_servers import ReferenceCluster, start_cluster_for_compat
from tests.compat.conftest import SUPER_DIGEST, zk  # noqa: F401  (the fixture the imported tests use)
from tests.compat.test_compat_acl import (  # noqa: F401
    test_acl_ids_are_validated,
    test_creator_all_acl_uses_the_creators_identity,
    test_creator_all_covers_every_digest_identity_of_the_session,
    test_default_acl_is_world_anyone_all,
    test_digest_acl_needs_matching_auth,
    test_duplicate_acls_are_collapsed,
    test_each_permission_is_checked,
    test_empty_acl_list_is_invalid,
    test_ip_acl,
    test_ip_acl_with_a_network,
    test_multi_checks_permissions,
    test_read_only_world_acl,
    test_set_acls_version_and_aversion,
    test_superuser_passes_every_check,
    test_unknown_auth_scheme_fails_the_connection,
)
from tests.compat.test_compat_multi import (  # noqa: F401
    test_check_on_missing_node,
    test_conflicts_inside_a_multi,
    test_failing_check_rolls_back,
    test_failing_op_rolls_back_everything,
    test_ops_see_earlier_ops_of_the_same_multi,
    test_rolled_back_multi_does_not_consume_sequence_numbers,
    test_sequential_and_ephemeral_creates_in_multi,
    test_successful_multi_results_and_effects,
)
from tests.compat.test_compat_nodes import (  # noqa: F401
    test_container_node,
    test_create2_returns_the_stat_exists_reports,
    test_create_existing_is_node_exists,
    test_create_missing_parent_is_no_node_and_makepath_creates_it,
    test_create_persistent_with_data,
    test_create_without_data_reads_empty,
    test_delete_any_version_missing_and_not_empty,
    test_delete_with_version,
    test_ephemeral_is_owned_by_session_and_cannot_have_children,
    test_exists_get_on_missing,
    test_failed_writes_consume_a_zxid,
    test_frame_limit_is_jute_maxbuffer,
    test_get_children_and_children2_stat,
    test_get_children_of_an_ephemeral,
    test_invalid_paths_are_bad_arguments,
    test_large_values,
    test_many_children,
    test_null_data_stays_null,
    test_parent_stat_tracks_children,
    test_path_syntax_is_checked_by_the_server,
    test_reconfig_is_disabled_by_default,
    test_relative_paths_sent_raw,
    test_replies_carry_the_servers_last_zxid,
    test_root_and_zookeeper_nodes_cannot_be_deleted,
    test_sequence_counter_counts_creates_not_deletes,
    test_sequence_counter_survives_deleting_sequential_children,
    test_sequential_names_are_ten_digit_counters,
    test_set_increments_version_and_checks_it,
    test_set_with_same_data_still_bumps_version,
    test_sync_returns_path,
    test_unicode_paths_and_binary_data,
    test_which_ops_check_path_syntax,
    test_zxids_increase_across_writes,
)
from tests.compat.test_compat_ordering import (  # noqa: F401
    test_concurrent_sequential_creates_are_unique_and_dense,
    test_many_sessions_at_once,
    test_pipelined_read_sees_the_write_sent_before_it,
    test_pipelined_writes_apply_in_the_order_sent,
)
from tests.compat.test_compat_sessions import (  # noqa: F401
    test_closed_session_cannot_be_resumed,
    test_ephemerals_go_when_the_session_closes,
    test_reattach_with_id_and_password_keeps_session_and_ephemerals,
    test_session_expires_when_the_client_goes_silent,
    test_session_timeout_is_clamped_to_two_and_twenty_ticks,
    test_unknown_session_id_is_refused,
    test_wrong_password_is_refused,
)
from tests.compat.test_compat_watches import (  # noqa: F401
    test_child_watch,
    test_data_watch_fires_on_delete,
    test_data_watch_fires_once_on_change,
    test_deleting_a_watched_parent_fires_deleted_on_its_child_watch,
    test_exists_watch_on_existing_node,
    test_exists_watch_on_missing_node_fires_on_create,
    test_failed_writes_and_acl_changes_fire_nothing,
    test_multi_fires_watches,
    test_notification_arrives_before_the_read_that_sees_the_change,
    test_watch_fires_for_another_clients_write,
)
from tests.compat.test_compat_wire import (  # noqa: F401
    test_check_outside_multi_closes_the_connection,
    test_client_ahead_of_the_server_is_dropped,
    test_close_session_answers_then_closes,
    test_connect_response_layout,
    test_create_container_takes_the_mode_from_its_flags,
    test_delete_container_is_server_internal,
    test_empty_path_reads_as_the_root,
    test_error_replies_carry_no_body,
    test_failed_multi_layout,
    test_malformed_watch_requests_are_marshalling_errors,
    test_multi_read,
    test_notification_frame,
    test_notification_opcode_from_a_client_is_unimplemented,
    test_one_notification_per_path_and_event_even_with_several_watches,
    test_persistent_and_recursive_watches,
    test_ping,
    test_read_op_in_multi_and_write_op_in_multi_read_are_marshalling_errors,
    test_remove_watches,
    test_replies_echo_xids_in_order,
    test_session_introspection_ops,
    test_set_watches_after_reconnect,
    test_successful_multi_layout,
    test_unknown_auth_scheme_fails_then_closes,
    test_unknown_opcode_is_unimplemented_then_closed,
)
from tests.compat.test_compat_wire import raw  # noqa: F401,E402  (fixture)

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def server() -> Iterator[ReferenceCluster]:
    cluster = start_cluster_for_compat(super_digest=SUPER_DIGEST)
    try:
        yield cluster
    finally:
        cluster.cleanup()
