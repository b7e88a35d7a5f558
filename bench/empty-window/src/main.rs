//! An empty Tauri 2 window (scripts/bench-memory.sh).
fn main() {
    tauri::Builder::default()
        .run(tauri::generate_context!())
        .expect("running the empty window");
}
