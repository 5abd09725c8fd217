//! Who works in a workspace and how they prove it: tenants and their settings, users and
//! invitations, sign-in (passwords and single sign-on) and sessions, API keys and OAuth clients.

pub mod credentials;
pub mod domains;
pub mod mfa;
pub mod password_reset;
pub mod saml;
pub mod scim;
pub mod scim_groups;
pub mod sessions;
pub mod sign_in;
pub mod sso;
pub mod staff_mail;
pub mod teams;
pub mod tenants;
pub mod users;
