//! `checks!`, which every check file wraps its checks in: it defines the check functions and, from
//! the same tokens, the list the suite macros instantiate tests from. A check therefore cannot be
//! written without being run: there is no second list to forget.

/// Defines the `pub async fn` checks it is given, then exports a hidden `macro_rules!` named
/// `$list` that hands their names to a callback:
///
/// ```text
/// checks! {
///     list for_each_event_check in events;
///     pub async fn events_wait_in_the_outbox_until_fanned_out(store: &dyn EventStore) { ... }
/// }
/// // expands `for_each_event_check!([cb...] args...)` to
/// //   cb! { args... ; events ; events_wait_in_the_outbox_until_fanned_out }
/// ```
///
/// `in $module` names the file's module under the crate root, so the callback can reach
/// `$crate::$module::$check`. The callback goes in brackets so it can be a path with `$crate`.
macro_rules! checks {
    (list $list:ident in $module:ident; $($checks:tt)*) => {
        // A macro cannot write `$` in the macro it defines; it is passed in as a token.
        checks!(@with_dollar ($) $list $module; $($checks)*);
    };
    (@with_dollar ($d:tt) $list:ident $module:ident;
        $( $(#[$attr:meta])* pub async fn $name:ident ($($params:tt)*) $body:block )*
    ) => {
        $( $(#[$attr])* pub async fn $name($($params)*) $body )*

        #[doc(hidden)]
        #[macro_export]
        macro_rules! $list {
            ([$d($d callback:tt)*] $d($d args:tt)*) => {
                $d($d callback)*! { $d($d args)* ; $module ; $($name),* }
            };
        }
    };
}
