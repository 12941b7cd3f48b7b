
use builtin;
use str;

set edit:completion:arg-completer[sockchat] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'sockchat'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'sockchat'= {
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand serve 'Run a chat room that others join'
            cand join 'Join a chat room from this terminal'
            cand completions 'Print a shell completion script to stdout'
            cand store 'Look after a store (`serve --store DIR`) without starting a server'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'sockchat;serve'= {
            cand --host 'Address to listen on (0.0.0.0 = every IPv4 interface, :: = IPv6); ADDR:PORT also sets the port'
            cand -p 'Port to listen on (0 picks a free one)'
            cand --port 'Port to listen on (0 picks a free one)'
            cand --max-line-bytes 'Longest line a client may send, in bytes; longer lines are dropped with an error'
            cand --max-clients 'Most connections at once; the next one is told the room is full'
            cand --login-timeout 'Seconds a new connection has to log in before it is closed'
            cand --send-queue 'Bytes that may wait to be sent to one client; a client that falls further behind is disconnected'
            cand --send-budget 'Bytes that may wait to be sent to all clients together; past it, clients already behind are disconnected'
            cand --rate 'Messages per second one client may send (0 = no limit)'
            cand --burst 'Messages one client may send in a burst above --rate'
            cand --announce-max 'Announce joins and leaves only while at most N people are online (0 = always)'
            cand --max-rooms 'Rooms on the server at once, #main included; past it, a new room takes the place of the unused room quiet the longest, and is refused when every room is in use'
            cand --threads 'Threads that run the server''s connections and its broker (one task, whatever the count); one is fastest on a small machine, where the threads would contend for the same lines in memory'
            cand --max-joined 'Rooms one person may be in at once, #main included; past it, their /join is refused'
            cand --max-per-addr 'Connections one address may hold (an IPv6 /64 counts as one address; 0 = no limit)'
            cand --max-pending-per-addr 'Connections one address may hold that have not logged in yet (0 = no limit)'
            cand --connect-rate 'New connections a second one address may open (0 = no limit)'
            cand --connect-burst 'New connections one address may open in a burst above --connect-rate'
            cand --trust-addr 'Exempt this network (ADDR/PREFIX, repeatable) from the limits per address; giving it replaces the default, `none` trusts nobody'
            cand --name-hold 'Seconds a name stays its owner''s (for the same address) after a connection drops without /quit (0 = none)'
            cand --max-kept-per-addr 'Dropped sessions one address may keep resumable (their names held) within --resume-window; past it its oldest is forgotten (0 = no limit)'
            cand --password-delay-max 'Longest wait, in seconds, between password attempts from an address that keeps giving wrong ones'
            cand --socket-send-buffer 'Kernel send buffer of each connection, in bytes (SO_SNDBUF; 0 = the kernel''s own, which grows to MiBs for a client that does not read)'
            cand --history 'Messages the room remembers in memory, for late joiners, /history and resumed sessions (0 = none)'
            cand --history-memory 'Memory the history of every room together may take, in MiB; past it, the oldest messages of any room are forgotten first (each room also keeps at most --history messages)'
            cand --replay 'Messages a late joiner is sent right after logging in (0 = none)'
            cand --resume-window 'Seconds a dropped session of our own client may be resumed, name and place in the room kept'
            cand --store 'Keep a durable transcript in this directory (DIR/main/*.jsonl): every message is synced to disk before anyone sees it, and history survives a restart; without it the room forgets everything when the server stops'
            cand --store-segment-mib 'Start a new transcript file once the current one reaches this many MiB'
            cand --output-rate 'Bytes a second of /who, /history and catch-up output one address may pull, reconnecting or not (each connection of a trusted address pays for itself), after a two-second allowance (0 = no limit)'
            cand --max-handshakes 'Unfinished TLS handshakes at once, in all (0 = no limit)'
            cand --max-handshakes-per-addr 'Unfinished TLS handshakes at once from one address (0 = no limit)'
            cand --tls-cert 'Serve TLS with this certificate chain (PEM); needs --tls-key'
            cand --tls-key 'The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1)'
            cand --password 'Room password, asked for before a name (prefer SOCKCHAT_PASSWORD or --password-file: a command line shows in `ps`)'
            cand --password-file 'Read the room password from FILE (its only line); wins over --password and SOCKCHAT_PASSWORD'
            cand --tls-self-signed 'Serve TLS with a certificate made at start-up; prints its fingerprint and the `join` command that pins it'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'sockchat;join'= {
            cand --host 'Server to join: a hostname, an IPv4 or an IPv6 address; HOST:PORT also sets the port'
            cand -p 'Server port'
            cand --port 'Server port'
            cand -n 'Your username (asked for when not given)'
            cand --name 'Your username (asked for when not given)'
            cand --room 'The room to start in (the ''#'' is optional); everyone starts in #main otherwise'
            cand --wait 'Keep retrying to connect for up to SECS seconds (while a server starts)'
            cand --login-timeout 'Give up if the server takes longer than SECS seconds to answer a step of the login (greeting, password, name)'
            cand --tls-ca 'Trust only the CA certificates in FILE (PEM) to vouch for the server; implies --tls'
            cand --tls-fingerprint 'Accept only the server certificate with this SHA-256 fingerprint (as `serve --tls-self-signed` prints it); implies --tls'
            cand --password 'The room''s password (asked for on a terminal when the room wants one and none is given)'
            cand --password-file 'Read the room''s password from FILE (its only line); wins over --password and SOCKCHAT_PASSWORD'
            cand --timestamps 'Show each line''s time (HH:MM, local time; the day when it changes); the default on a terminal'
            cand --no-timestamps 'Show no times (the default when output is not a terminal)'
            cand --no-bell 'Ring no bell when a line names you or a private message comes (a terminal rings by default)'
            cand --reconnect 'When the connection drops, connect again and resume (the default on a terminal)'
            cand --no-reconnect 'Exit (code 1) when the connection drops, also on a terminal'
            cand --tls 'Connect with TLS, verifying the server against this system''s CAs (or --tls-ca)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'sockchat;completions'= {
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'sockchat;store'= {
            cand -h 'Print help'
            cand --help 'Print help'
            cand check 'Read every line of every file of a store and report damage, without starting a server'
        }
        &'sockchat;store;check'= {
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'sockchat;help'= {
            cand serve 'Run a chat room that others join'
            cand join 'Join a chat room from this terminal'
            cand completions 'Print a shell completion script to stdout'
            cand store 'Look after a store (`serve --store DIR`) without starting a server'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'sockchat;help;serve'= {
        }
        &'sockchat;help;join'= {
        }
        &'sockchat;help;completions'= {
        }
        &'sockchat;help;store'= {
            cand check 'Read every line of every file of a store and report damage, without starting a server'
        }
        &'sockchat;help;store;check'= {
        }
        &'sockchat;help;help'= {
        }
    ]
    $completions[$command]
}
