/* A tiny X11 drag source for the real-app e2e tests: a 160x160 window at the top-left corner
 * that drags the file given as argv[1] (text/uri-list), so xdotool can drop a real file on the
 * Berth window through XDND, the way a file manager would. Prints "ready" once shown and exits
 * after the drop (or after 60 s).
 *
 *   cc -o drag-source drag-source.c $(pkg-config --cflags --libs gtk+-3.0)
 */
#include <gtk/gtk.h>

static const char *uri;

static void on_get(GtkWidget *w, GdkDragContext *c, GtkSelectionData *data, guint info, guint time, gpointer u) {
  gchar *uris[] = {(gchar *)uri, NULL};
  gtk_selection_data_set_uris(data, uris);
}

static void on_end(GtkWidget *w, GdkDragContext *c, gpointer u) {
  g_print("dropped\n");
  gtk_main_quit();
}

static gboolean on_timeout(gpointer u) {
  gtk_main_quit();
  return G_SOURCE_REMOVE;
}

static gboolean on_shown(gpointer u) {
  g_print("ready\n");
  return G_SOURCE_REMOVE;
}

int main(int argc, char **argv) {
  gtk_init(&argc, &argv);
  if (argc < 2) return 2;
  GFile *f = g_file_new_for_path(argv[1]);
  uri = g_file_get_uri(f);
  GtkWidget *win = gtk_window_new(GTK_WINDOW_TOPLEVEL);
  gtk_window_set_decorated(GTK_WINDOW(win), FALSE);
  gtk_window_set_default_size(GTK_WINDOW(win), 160, 160);
  gtk_window_move(GTK_WINDOW(win), 0, 0);
  GtkWidget *box = gtk_event_box_new();
  gtk_container_add(GTK_CONTAINER(box), gtk_label_new("drag me"));
  gtk_container_add(GTK_CONTAINER(win), box);
  GtkTargetEntry target = {"text/uri-list", 0, 0};
  gtk_drag_source_set(box, GDK_BUTTON1_MASK, &target, 1, GDK_ACTION_COPY);
  g_signal_connect(box, "drag-data-get", G_CALLBACK(on_get), NULL);
  g_signal_connect(box, "drag-end", G_CALLBACK(on_end), NULL);
  gtk_widget_show_all(win);
  g_timeout_add(300, on_shown, NULL);
  g_timeout_add_seconds(60, on_timeout, NULL);
  gtk_main();
  return 0;
}
