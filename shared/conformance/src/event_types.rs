//! Checks of `EventTypeStore`: types survive storage whole, are kept apart by scope (the
//! deployment's and each tenant's), are created once, change only from the revision they were
//! read at, list by name, and are deleted once.

use crate::fixtures::tenant;
use hookline_core::clock::Timestamp;
use hookline_core::event_type::{EventType, NewEventType};
use hookline_core::ports::EventTypeStore;
use serde_json::json;

fn declared(name: &str, tenant_id: Option<&str>) -> EventType {
    let new: NewEventType = serde_json::from_value(json!({
        "name": name,
        "description": "A lead was qualified by the AI assistant",
        "schema": {"type": "object", "required": ["leadId"],
                   "properties": {"leadId": {"type": "string"}}},
        "versions": {"v1": {"remove": ["/appointments"]}, "v2": {}}
    }))
    .unwrap();
    new.into_event_type(tenant_id.map(tenant), Timestamp(10))
        .unwrap()
}

checks! {
    list for_each_event_type_check in event_types;

    pub async fn event_types_round_trip_by_scope(store: &dyn EventTypeStore) {
        let everyone = declared("lead.qualified", None);
        let own = declared("lead.qualified", Some("dealer-1"));
        let other = declared("lead.created", None);
        assert!(store.insert_event_type(&everyone).await.unwrap());
        assert!(store.insert_event_type(&own).await.unwrap(), "a tenant's own is apart from the deployment's");
        assert!(store.insert_event_type(&other).await.unwrap());
        assert!(!store.insert_event_type(&everyone).await.unwrap(), "created once");
        let dealer = tenant("dealer-1");
        assert_eq!(store.get_event_type(None, "lead.qualified").await.unwrap(), Some(everyone.clone()));
        assert_eq!(store.get_event_type(Some(&dealer), "lead.qualified").await.unwrap(), Some(own.clone()));
        assert_eq!(store.get_event_type(Some(&dealer), "lead.created").await.unwrap(), None);
        assert_eq!(store.get_event_type(Some(&tenant("dealer-2")), "lead.qualified").await.unwrap(), None);
        let names: Vec<String> = store.list_event_types(None).await.unwrap().into_iter().map(|t| t.name).collect();
        assert_eq!(names, ["lead.created", "lead.qualified"], "by name");
        assert_eq!(store.list_event_types(Some(&dealer)).await.unwrap(), vec![own]);
    }

    pub async fn event_types_change_only_from_the_revision_read(store: &dyn EventTypeStore) {
        let t = declared("deal.created", None);
        store.insert_event_type(&t).await.unwrap();
        let mut next = t.clone();
        next.deprecated = true;
        next.revision = 2;
        assert!(store.update_event_type(&next, 1).await.unwrap());
        let mut late = t.clone();
        late.description = Some("written from a stale read".into());
        late.revision = 2;
        assert!(!store.update_event_type(&late, 1).await.unwrap(), "the revision moved on");
        assert_eq!(store.get_event_type(None, "deal.created").await.unwrap(), Some(next.clone()));
        assert!(store.delete_event_type(None, "deal.created").await.unwrap());
        assert!(!store.delete_event_type(None, "deal.created").await.unwrap(), "deleted once");
        let mut gone = next.clone();
        gone.revision = 3;
        assert!(!store.update_event_type(&gone, 2).await.unwrap(), "a deleted type is not recreated by an update");
        assert_eq!(store.get_event_type(None, "deal.created").await.unwrap(), None);
    }
}
