/* The items of the stream test's template (tests/live/live_songs.html.bnx). */
#ifndef LIVE_SONGS_H
#define LIVE_SONGS_H

typedef struct song {
    const char *dom_id;
    const char *name;
} song;

#endif
