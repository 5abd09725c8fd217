//! Website and in-app surveys: `site_keys`, the publishable keys a workspace makes for its sites
//! (allowed origins, the survey shown), and `visits`, what the widget on those sites asks the
//! server (should this visitor see the survey now, their answer, comment and dismissal).

pub mod site_keys;
pub mod visits;
