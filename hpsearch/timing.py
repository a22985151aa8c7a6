"""Every interval and grace period of hpsearch, in seconds, in one place.

They belong together: a worker is judged gone once its heartbeat is older than WORKER_GRACE_S,
so WORKER_GRACE_S must be several HEARTBEAT_S; likewise LOCK_GRACE_S and LOCK_BEAT_S for the
coordinator's lock. The heartbeats of workers are Optuna's (whole seconds).
"""

from __future__ import annotations

HEARTBEAT_S = 2  # a running trial's heartbeat (Optuna's heartbeat_interval)
WORKER_GRACE_S = 10  # a trial whose heartbeat is older is abandoned (Optuna's grace_period)
LOCK_BEAT_S = 2.0  # the coordinator refreshes its study lock this often
LOCK_GRACE_S = 15.0  # a lock not refreshed for this long (database clock; another host or
# pid namespace) is free, and a coordinator away longer may find it taken over (exit 75)
POLL_S = 0.1  # the coordinator following a round; an idle worker looking for a trial
STUDY_WAIT_S = 1.0  # a worker waiting for its study to be created
SIGNAL_POLL_S = 0.05  # how soon a received SIGINT/SIGTERM is acted on
STOP_GRACE_S = 1.0  # workers all dead: wait this long for the Ctrl-C that may have killed them
PARENT_WATCH_S = 1.0  # a local worker checks that its coordinator still lives
WORKER_POLL_S = 0.5  # `hpsearch worker --jobs N` checking on its processes
IDLE_NOTICE_S = 5.0  # a coordinator without local workers says whom it waits for after this
