//! Notifications for a workspace's staff: what each user chose to be mailed about, per survey
//! (`subscriptions`), the notifier that gathers new answers into one mail per user and survey
//! every few minutes and the weekly digests (`notifier`, run by the scheduler job, over each
//! workspace's `state`), and the mails themselves (`mail`, sent by the deliverer job from the
//! sending queue).

pub mod mail;
pub mod notifier;
pub mod state;
pub mod subscriptions;
