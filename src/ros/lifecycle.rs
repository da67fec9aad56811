//! The managed-node (lifecycle) state machine of ROS 2, as `rcl_lifecycle` defines it, and
//! the `lifecycle_msgs` types the node serves it with (`~/get_state`, `~/change_state`,
//! `~/get_available_states`, `~/get_available_transitions`, `~/transition_event`).
//!
//! Owns: states, transitions and their ids and labels, which transitions each state offers,
//! and the steps of one transition (the intermediate state, the node's callback result, the
//! transition events to publish). It does not configure or activate anything itself: the node
//! passes its `on_configure` / `on_activate` / ... as a callback. Time is passed in.

use serde::{Deserialize, Serialize};

use super::msg::RosMessage;

/// `lifecycle_msgs/msg/State`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// `PRIMARY_STATE_*` or `TRANSITION_STATE_*`.
    pub id: u8,
    /// Lower-case name (`unconfigured`, `configuring`, ...).
    pub label: String,
}

/// `lifecycle_msgs/msg/Transition`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// `TRANSITION_*`.
    pub id: u8,
    /// Lower-case name (`configure`, `activate`, ...).
    pub label: String,
}

/// `lifecycle_msgs/msg/TransitionDescription`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitionDescription {
    /// The transition.
    pub transition: Transition,
    /// Where it starts.
    pub start_state: State,
    /// Where it goes.
    pub goal_state: State,
}

/// `lifecycle_msgs/msg/TransitionEvent` (published on `~/transition_event`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitionEvent {
    /// When, ns.
    pub timestamp: u64,
    /// The transition.
    pub transition: Transition,
    /// Where it started.
    pub start_state: State,
    /// Where it went.
    pub goal_state: State,
}

impl RosMessage for TransitionEvent {
    const TYPE_NAME: &'static str = "lifecycle_msgs/msg/TransitionEvent";
}

/// The primary and transition states (`lifecycle_msgs/msg/State` ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LifecycleState {
    /// Created, not configured.
    Unconfigured = 1,
    /// Configured, not processing.
    Inactive = 2,
    /// Processing.
    Active = 3,
    /// Shut down; only destruction remains.
    Finalized = 4,
    /// `on_configure` running.
    Configuring = 10,
    /// `on_cleanup` running.
    CleaningUp = 11,
    /// `on_shutdown` running.
    ShuttingDown = 12,
    /// `on_activate` running.
    Activating = 13,
    /// `on_deactivate` running.
    Deactivating = 14,
    /// `on_error` running.
    ErrorProcessing = 15,
}

impl LifecycleState {
    /// Every state, primary first.
    pub const ALL: [Self; 10] = [
        Self::Unconfigured,
        Self::Inactive,
        Self::Active,
        Self::Finalized,
        Self::Configuring,
        Self::CleaningUp,
        Self::ShuttingDown,
        Self::Activating,
        Self::Deactivating,
        Self::ErrorProcessing,
    ];

    /// The label rcl gives it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Unconfigured => "unconfigured",
            Self::Inactive => "inactive",
            Self::Active => "active",
            Self::Finalized => "finalized",
            Self::Configuring => "configuring",
            Self::CleaningUp => "cleaningup",
            Self::ShuttingDown => "shuttingdown",
            Self::Activating => "activating",
            Self::Deactivating => "deactivating",
            Self::ErrorProcessing => "errorprocessing",
        }
    }

    /// As a message.
    pub fn msg(self) -> State {
        State {
            id: self as u8,
            label: self.label().into(),
        }
    }
}

/// What the node's callback for a transition returned (rclcpp's `CallbackReturn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackResult {
    /// Go to the goal state.
    Success,
    /// Stay where it was (e.g. configuration refused).
    Failure,
    /// Something broke: error processing, then unconfigured (or finalized if that fails too).
    Error,
}

/// A requestable transition (`lifecycle_msgs/msg/Transition` ids 1-7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    id: u8,
    label: &'static str,
    from: LifecycleState,
    via: LifecycleState,
    to: LifecycleState,
}

const STEPS: [Step; 7] = [
    Step {
        id: 1,
        label: "configure",
        from: LifecycleState::Unconfigured,
        via: LifecycleState::Configuring,
        to: LifecycleState::Inactive,
    },
    Step {
        id: 2,
        label: "cleanup",
        from: LifecycleState::Inactive,
        via: LifecycleState::CleaningUp,
        to: LifecycleState::Unconfigured,
    },
    Step {
        id: 3,
        label: "activate",
        from: LifecycleState::Inactive,
        via: LifecycleState::Activating,
        to: LifecycleState::Active,
    },
    Step {
        id: 4,
        label: "deactivate",
        from: LifecycleState::Active,
        via: LifecycleState::Deactivating,
        to: LifecycleState::Inactive,
    },
    Step {
        id: 5,
        label: "shutdown",
        from: LifecycleState::Unconfigured,
        via: LifecycleState::ShuttingDown,
        to: LifecycleState::Finalized,
    },
    Step {
        id: 6,
        label: "shutdown",
        from: LifecycleState::Inactive,
        via: LifecycleState::ShuttingDown,
        to: LifecycleState::Finalized,
    },
    Step {
        id: 7,
        label: "shutdown",
        from: LifecycleState::Active,
        via: LifecycleState::ShuttingDown,
        to: LifecycleState::Finalized,
    },
];

/// The callback-result transition ids rcl uses for the second half of a step:
/// `10 * n + {0 success, 1 failure, 2 error}` with n = 1 configure, 2 cleanup, 3 activate,
/// 4 deactivate, 5 shutdown, 6 error.
fn result_transition(via: LifecycleState, result: CallbackResult) -> Transition {
    let (n, name) = match via {
        LifecycleState::Configuring => (1, "configure"),
        LifecycleState::CleaningUp => (2, "cleanup"),
        LifecycleState::Activating => (3, "activate"),
        LifecycleState::Deactivating => (4, "deactivate"),
        LifecycleState::ShuttingDown => (5, "shutdown"),
        _ => (6, "error"),
    };
    let (k, how) = match result {
        CallbackResult::Success => (0, "success"),
        CallbackResult::Failure => (1, "failure"),
        CallbackResult::Error => (2, "error"),
    };
    Transition {
        id: 10 * n + k,
        label: format!("on_{name}_{how}"),
    }
}

/// A managed node's lifecycle.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    state: LifecycleState,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self {
            state: LifecycleState::Unconfigured,
        }
    }
}

impl Lifecycle {
    /// The current primary state.
    pub fn state(&self) -> LifecycleState {
        self.state
    }

    /// Every state (`~/get_available_states`).
    pub fn available_states() -> Vec<State> {
        LifecycleState::ALL.iter().map(|s| s.msg()).collect()
    }

    /// The transitions the current state offers (`~/get_available_transitions`).
    pub fn available_transitions(&self) -> Vec<TransitionDescription> {
        STEPS
            .iter()
            .filter(|s| s.from == self.state)
            .map(|s| TransitionDescription {
                transition: Transition {
                    id: s.id,
                    label: s.label.into(),
                },
                start_state: s.from.msg(),
                goal_state: s.to.msg(),
            })
            .collect()
    }

    /// Requests a transition (`~/change_state`): by `label` when it is not empty, else by
    /// `id`. Runs `callback` for it (the node's `on_configure`, ...; `on_error` after an
    /// error) and returns the transition events to publish, in order.
    ///
    /// # Errors
    /// A message when the transition is unknown or not available from the current state
    /// (nothing changes; `~/change_state` then answers `success: false`).
    pub fn change(
        &mut self,
        requested: &Transition,
        now_ns: u64,
        mut callback: impl FnMut(LifecycleState) -> CallbackResult,
    ) -> Result<Vec<TransitionEvent>, String> {
        let step = STEPS
            .iter()
            .find(|s| {
                s.from == self.state
                    && if requested.label.is_empty() {
                        s.id == requested.id
                    } else {
                        s.label == requested.label
                    }
            })
            .ok_or_else(|| {
                let what = if requested.label.is_empty() {
                    format!("transition id {}", requested.id)
                } else {
                    format!("transition {:?}", requested.label)
                };
                format!(
                    "{what} is not available in state {} (available: {})",
                    self.state.label(),
                    self.available_transitions()
                        .iter()
                        .map(|t| t.transition.label.clone())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
        let event = |t: Transition, from: LifecycleState, to: LifecycleState| TransitionEvent {
            timestamp: now_ns,
            transition: t,
            start_state: from.msg(),
            goal_state: to.msg(),
        };
        let mut events = vec![event(
            Transition {
                id: step.id,
                label: step.label.into(),
            },
            step.from,
            step.via,
        )];
        let result = callback(step.via);
        let goal = match result {
            CallbackResult::Success => step.to,
            CallbackResult::Failure => step.from,
            CallbackResult::Error => LifecycleState::ErrorProcessing,
        };
        events.push(event(result_transition(step.via, result), step.via, goal));
        if goal == LifecycleState::ErrorProcessing {
            let recovered = callback(LifecycleState::ErrorProcessing);
            let end = if recovered == CallbackResult::Success {
                LifecycleState::Unconfigured
            } else {
                LifecycleState::Finalized
            };
            events.push(event(
                result_transition(LifecycleState::ErrorProcessing, recovered),
                LifecycleState::ErrorProcessing,
                end,
            ));
            self.state = end;
        } else {
            self.state = goal;
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use LifecycleState as S;

    fn by_label(l: &str) -> Transition {
        Transition {
            id: 0,
            label: l.into(),
        }
    }

    #[test]
    fn the_standard_path_configure_activate_deactivate_cleanup_shutdown() {
        let mut lc = Lifecycle::default();
        let mut calls = Vec::new();
        for (t, want) in [
            ("configure", S::Inactive),
            ("activate", S::Active),
            ("deactivate", S::Inactive),
            ("cleanup", S::Unconfigured),
            ("shutdown", S::Finalized),
        ] {
            let ev = lc
                .change(&by_label(t), 7, |via| {
                    calls.push(via);
                    CallbackResult::Success
                })
                .unwrap();
            assert_eq!(lc.state(), want, "{t}");
            assert_eq!(ev.len(), 2);
            assert_eq!(ev[1].goal_state, want.msg());
            assert_eq!(ev[0].goal_state, ev[1].start_state);
            assert!(ev[1].transition.label.ends_with("_success"));
        }
        assert_eq!(
            calls,
            [
                S::Configuring,
                S::Activating,
                S::Deactivating,
                S::CleaningUp,
                S::ShuttingDown
            ]
        );
        assert!(lc.available_transitions().is_empty());
    }

    #[test]
    fn ids_follow_lifecycle_msgs_and_unavailable_transitions_change_nothing() {
        let mut lc = Lifecycle::default();
        let ids: Vec<u8> = lc
            .available_transitions()
            .iter()
            .map(|t| t.transition.id)
            .collect();
        assert_eq!(ids, [1, 5]);
        let e = lc
            .change(&by_label("activate"), 0, |_| CallbackResult::Success)
            .unwrap_err();
        assert!(
            e.contains("not available in state unconfigured") && e.contains("configure"),
            "{e}"
        );
        assert_eq!(lc.state(), S::Unconfigured);
        let ev = lc
            .change(
                &Transition {
                    id: 1,
                    label: String::new(),
                },
                0,
                |_| CallbackResult::Success,
            )
            .unwrap();
        assert_eq!((ev[0].transition.id, ev[1].transition.id), (1, 10));
        assert_eq!(ev[0].goal_state.id, 10);
        // Shutdown from inactive is id 6, from active 7.
        let ids: Vec<u8> = lc
            .available_transitions()
            .iter()
            .map(|t| t.transition.id)
            .collect();
        assert_eq!(ids, [2, 3, 6]);
        assert!(lc
            .change(
                &Transition {
                    id: 42,
                    label: String::new()
                },
                0,
                |_| CallbackResult::Success
            )
            .is_err());
        assert_eq!(Lifecycle::available_states().len(), 10);
    }

    #[test]
    fn failure_stays_and_error_goes_through_error_processing() {
        let mut lc = Lifecycle::default();
        let ev = lc
            .change(&by_label("configure"), 0, |_| CallbackResult::Failure)
            .unwrap();
        assert_eq!(lc.state(), S::Unconfigured);
        assert_eq!(ev[1].transition.id, 11);
        // An error in on_configure, on_error recovers: back to unconfigured.
        let ev = lc
            .change(&by_label("configure"), 0, |via| {
                if via == S::ErrorProcessing {
                    CallbackResult::Success
                } else {
                    CallbackResult::Error
                }
            })
            .unwrap();
        assert_eq!(lc.state(), S::Unconfigured);
        assert_eq!(
            ev.iter().map(|e| e.transition.id).collect::<Vec<_>>(),
            [1, 12, 60]
        );
        // on_error fails too: finalized.
        lc.change(&by_label("configure"), 0, |_| CallbackResult::Error)
            .unwrap();
        assert_eq!(lc.state(), S::Finalized);
    }
}
