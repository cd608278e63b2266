//! `/api/v1/subscriptions`: registering a subscription (the JSON intake),
//! the list, and one subscription's view. The intake service itself is
//! shared with the HTML form (`pages`), so both obey the same rules.

pub mod create;
pub mod intake;
pub mod list;
pub mod view;

use crate::access::doors::DoorRouter;
use crate::SharedState;
use masthead_auth::Role;
use utoipa_axum::routes;

pub fn routes() -> DoorRouter<SharedState> {
    DoorRouter::new()
        .public(routes!(create::create_subscription))
        // The list carries no personal data; still, who subscribes is the
        // publisher's business.
        .role(Role::Viewer, routes!(list::list_subscriptions))
        // The subscriber's own view, by an id only they were given.
        .public(routes!(view::get_subscription))
}
