//! WebKitGTK settings for Berth's window.
//!
//! Accelerated compositing gives every composited layer a GPU (or, without one, a Mesa) backing
//! store: measured with `scripts/bench-memory.sh`, it costs Berth's web process about 90 MiB
//! while idle, more than the rest of the page. Berth's page is a form-and-list UI plus a
//! terminal, which WebKit paints as fast without it, so the window turns it off. A user who
//! sets `WEBKIT_DISABLE_COMPOSITING_MODE` themselves (to `0`, say) keeps WebKit's own choice.

/// Applies the settings to the window's webview.
#[cfg(target_os = "linux")]
pub fn configure(window: &tauri::WebviewWindow) {
    if std::env::var_os("WEBKIT_DISABLE_COMPOSITING_MODE").is_some() {
        return;
    }
    let applied = window.with_webview(|webview| {
        use webkit2gtk::{HardwareAccelerationPolicy, SettingsExt, WebViewExt};
        if let Some(settings) = webview.inner().settings() {
            settings.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
        }
    });
    if let Err(e) = applied {
        tracing::warn!(error = %e, "could not configure the webview");
    }
}

#[cfg(not(target_os = "linux"))]
pub fn configure(_window: &tauri::WebviewWindow) {}
