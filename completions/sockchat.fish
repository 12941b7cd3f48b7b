# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_sockchat_global_optspecs
    string join \n h/help V/version
end

function __fish_sockchat_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_sockchat_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_sockchat_using_subcommand
    set -l cmd (__fish_sockchat_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c sockchat -n "__fish_sockchat_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sockchat -n "__fish_sockchat_needs_command" -s V -l version -d 'Print version'
complete -c sockchat -n "__fish_sockchat_needs_command" -f -a "serve" -d 'Run a chat room that others join'
complete -c sockchat -n "__fish_sockchat_needs_command" -f -a "join" -d 'Join a chat room from this terminal'
complete -c sockchat -n "__fish_sockchat_needs_command" -f -a "completions" -d 'Print a shell completion script to stdout'
complete -c sockchat -n "__fish_sockchat_needs_command" -f -a "store" -d 'Look after a store (`serve --store DIR`) without starting a server'
complete -c sockchat -n "__fish_sockchat_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sockchat -n "__fish_sockchat_using_subcommand serve" -l host -d 'Address to listen on (0.0.0.0 = every IPv4 interface, :: = IPv6); ADDR:PORT also sets the port' -r
complete -c sockchat -n "__fish_sockchat_using_subcommand serve" -s p -l port -d 'Port to listen on (0 picks a free one)' -r
complete -c sockchat -n "__fish_sockchat_using_subcommand serve" -l max-line-bytes -d 'Longest line a client may send, in bytes; longer lines are dropped with an error' -r
complete -c sockchat -n "__fish_sockchat_using_subcommand serve" -l max-clients -d 'Most connections at once; the next one is told the room is full' -r
complete -c sockchat -n "__fish_sockchat_using_subcommand serve" -l login-timeout -d 'Seconds a new connection has to log in before it is closed' -r
complete -c sockchat -n "__fish_sockchat_using_subcommand serve" -l send-queue -d 'Bytes that may wait to be sent to one client; a client that falls further behind is disconnected' -r
complete -c sockchat -n "__fish_sockchat_using_subcommand serve" -l send-budget -d 'Bytes that may wait to be sent to all clients together; past it, clients already behind are disconnected' -r
complete -c sockchat -n "__fish_sockchat_using_subcommand serve" -l rate -d 'Messages per second one client may send (0 = no limit)' -r
complete -c sockchat -n "__fish_sockchat_using_subcommand serve" -l burst -d 'Messages one client may send in a burst above --rate' -r
complete -c sockchat -n "__fish_sockchat_using_subcommand serve" -l announce-max -d 'Announce joins and leaves only while at most N people are online (0 = always)' -r
complete -c sockchat -n "__fish_sockchat_using_subcommand serve" -l max-rooms -d 'Rooms on the server at once, #main included; past it, a new room takes the place of the unused room quiet the longest, and is refused when every room is in use' -r
complete -c sockchat -n "__fish_sockchat_using_subcommand serve" -l threads -d 'Threads that run the server\'s connections and its broker (one task, whatever the count); one is fastest on a small machine, where the threads would contend for the same lines in memory' -r
complete -c sockchat -n "__fish_sockchat_using_subcommand serve" -l max-joined -d 'Rooms one person may be in at once, #main included; past it, their /join is refused' -r
complete -c sockchat -n "__fish_sockchat_using_subcommand serve" -l max-per-addr -d 'Connections one address may hold (an IPv6 /64 counts as one address; 0 = no limit)' -r
complete -c sockchat -n "__fish_sockchat_using_subcommand serve" -l max-pending-per-addr -d 'Connections one address may hold that have not logged in yet (0 = no limit)' -r
complete -c sockchat -n "__fish_sockchat_using_subcommand serve" -l connect-rate -d 'New connections a second one address may open (0 = no limit)' -r
complete -c sockchat -n "__fish_sockchat_using_subcommand serve" -l connect-burst -d 'New connections one address may open in a burst above --connect-rate' -r
complete -c sockchat -n "__fish_sockchat_using_subcommand serve" -l trust-addr -d 'Exempt this network (ADDR/PREFIX, repeatable) from the limits per address; giving it replaces the default, `none` trusts nobody' -r
complete -c sockchat -n "__fish_sockchat_using_subcommand serve" -l name-hold -d 'Seconds a name stays its owner\'s (for the same address) after a connection drops without /quit (0 = none)' -r
complete -c sockchat -n "__fish_sockchat_using_subcommand serve" -l max-kept-per-addr -d 'Dropped sessions one address may keep resumable (their names held) within --resume-window; past it its oldest is forgotten (0 = no limit)' -r
complete -c sockchat -n "__fish_sockchat_using_subcommand serve" -l password-delay-max -d 'Longest wait, in seconds, between password attempts from an address that keeps giving wrong ones' -r
complete -c sockchat -n "__fish_sockchat_using_subcommand serve" -l socket-send-buffer -d 'Kernel send buffer of each connection, in bytes (SO_SNDBUF; 0 = the kernel\'s own, which grows to MiBs for a client that does not read)' -r
complete -c sockchat -n "__fish_sockchat_using_subcommand serve" -l history -d 'Messages the room remembers in memory, for late joiners, /history and resumed sessions (0 = none)' -r
complete -c sockchat -n "__fish_sockchat_using_subcommand serve" -l history-memory -d 'Memory the history of every room together may take, in MiB; past it, the oldest messages of any room are forgotten first (each room also keeps at most --history messages)' -r
complete -c sockchat -n "__fish_sockchat_using_subcommand serve" -l replay -d 'Messages a late joiner is sent right after logging in (0 = none)' -r
complete -c sockchat -n "__fish_sockchat_using_subcommand serve" -l resume-window -d 'Seconds a dropped session of our own client may be resumed, name and place in the room kept' -r
complete -c sockchat -n "__fish_sockchat_using_subcommand serve" -l store -d 'Keep a durable transcript in this directory (DIR/main/*.jsonl): every message is synced to disk before anyone sees it, and history survives a restart; without it the room forgets everything when the server stops' -r -f -a "(__fish_complete_directories)"
complete -c sockchat -n "__fish_sockchat_using_subcommand serve" -l store-segment-mib -d 'Start a new transcript file once the current one reaches this many MiB' -r
complete -c sockchat -n "__fish_sockchat_using_subcommand serve" -l output-rate -d 'Bytes a second of /who, /history and catch-up output one address may pull, reconnecting or not (each connection of a trusted address pays for itself), after a two-second allowance (0 = no limit)' -r
complete -c sockchat -n "__fish_sockchat_using_subcommand serve" -l max-handshakes -d 'Unfinished TLS handshakes at once, in all (0 = no limit)' -r
complete -c sockchat -n "__fish_sockchat_using_subcommand serve" -l max-handshakes-per-addr -d 'Unfinished TLS handshakes at once from one address (0 = no limit)' -r
complete -c sockchat -n "__fish_sockchat_using_subcommand serve" -l tls-cert -d 'Serve TLS with this certificate chain (PEM); needs --tls-key' -r -F
complete -c sockchat -n "__fish_sockchat_using_subcommand serve" -l tls-key -d 'The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1)' -r -F
complete -c sockchat -n "__fish_sockchat_using_subcommand serve" -l password -d 'Room password, asked for before a name (prefer SOCKCHAT_PASSWORD or --password-file: a command line shows in `ps`)' -r
complete -c sockchat -n "__fish_sockchat_using_subcommand serve" -l password-file -d 'Read the room password from FILE (its only line); wins over --password and SOCKCHAT_PASSWORD' -r -F
complete -c sockchat -n "__fish_sockchat_using_subcommand serve" -l tls-self-signed -d 'Serve TLS with a certificate made at start-up; prints its fingerprint and the `join` command that pins it'
complete -c sockchat -n "__fish_sockchat_using_subcommand serve" -s h -l help -d 'Print help'
complete -c sockchat -n "__fish_sockchat_using_subcommand join" -l host -d 'Server to join: a hostname, an IPv4 or an IPv6 address; HOST:PORT also sets the port' -r
complete -c sockchat -n "__fish_sockchat_using_subcommand join" -s p -l port -d 'Server port' -r
complete -c sockchat -n "__fish_sockchat_using_subcommand join" -s n -l name -d 'Your username (asked for when not given)' -r
complete -c sockchat -n "__fish_sockchat_using_subcommand join" -l room -d 'The room to start in (the \'#\' is optional); everyone starts in #main otherwise' -r
complete -c sockchat -n "__fish_sockchat_using_subcommand join" -l wait -d 'Keep retrying to connect for up to SECS seconds (while a server starts)' -r
complete -c sockchat -n "__fish_sockchat_using_subcommand join" -l login-timeout -d 'Give up if the server takes longer than SECS seconds to answer a step of the login (greeting, password, name)' -r
complete -c sockchat -n "__fish_sockchat_using_subcommand join" -l tls-ca -d 'Trust only the CA certificates in FILE (PEM) to vouch for the server; implies --tls' -r -F
complete -c sockchat -n "__fish_sockchat_using_subcommand join" -l tls-fingerprint -d 'Accept only the server certificate with this SHA-256 fingerprint (as `serve --tls-self-signed` prints it); implies --tls' -r
complete -c sockchat -n "__fish_sockchat_using_subcommand join" -l password -d 'The room\'s password (asked for on a terminal when the room wants one and none is given)' -r
complete -c sockchat -n "__fish_sockchat_using_subcommand join" -l password-file -d 'Read the room\'s password from FILE (its only line); wins over --password and SOCKCHAT_PASSWORD' -r -F
complete -c sockchat -n "__fish_sockchat_using_subcommand join" -l timestamps -d 'Show each line\'s time (HH:MM, local time; the day when it changes); the default on a terminal'
complete -c sockchat -n "__fish_sockchat_using_subcommand join" -l no-timestamps -d 'Show no times (the default when output is not a terminal)'
complete -c sockchat -n "__fish_sockchat_using_subcommand join" -l no-bell -d 'Ring no bell when a line names you or a private message comes (a terminal rings by default)'
complete -c sockchat -n "__fish_sockchat_using_subcommand join" -l reconnect -d 'When the connection drops, connect again and resume (the default on a terminal)'
complete -c sockchat -n "__fish_sockchat_using_subcommand join" -l no-reconnect -d 'Exit (code 1) when the connection drops, also on a terminal'
complete -c sockchat -n "__fish_sockchat_using_subcommand join" -l tls -d 'Connect with TLS, verifying the server against this system\'s CAs (or --tls-ca)'
complete -c sockchat -n "__fish_sockchat_using_subcommand join" -s h -l help -d 'Print help'
complete -c sockchat -n "__fish_sockchat_using_subcommand completions" -s h -l help -d 'Print help'
complete -c sockchat -n "__fish_sockchat_using_subcommand store; and not __fish_seen_subcommand_from check" -s h -l help -d 'Print help'
complete -c sockchat -n "__fish_sockchat_using_subcommand store; and not __fish_seen_subcommand_from check" -f -a "check" -d 'Read every line of every file of a store and report damage, without starting a server'
complete -c sockchat -n "__fish_sockchat_using_subcommand store; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sockchat -n "__fish_sockchat_using_subcommand help; and not __fish_seen_subcommand_from serve join completions store help" -f -a "serve" -d 'Run a chat room that others join'
complete -c sockchat -n "__fish_sockchat_using_subcommand help; and not __fish_seen_subcommand_from serve join completions store help" -f -a "join" -d 'Join a chat room from this terminal'
complete -c sockchat -n "__fish_sockchat_using_subcommand help; and not __fish_seen_subcommand_from serve join completions store help" -f -a "completions" -d 'Print a shell completion script to stdout'
complete -c sockchat -n "__fish_sockchat_using_subcommand help; and not __fish_seen_subcommand_from serve join completions store help" -f -a "store" -d 'Look after a store (`serve --store DIR`) without starting a server'
complete -c sockchat -n "__fish_sockchat_using_subcommand help; and not __fish_seen_subcommand_from serve join completions store help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sockchat -n "__fish_sockchat_using_subcommand help; and __fish_seen_subcommand_from store" -f -a "check" -d 'Read every line of every file of a store and report damage, without starting a server'
