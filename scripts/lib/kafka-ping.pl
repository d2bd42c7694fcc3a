#!/usr/bin/perl
# Kafka-protocol health check: sends an ApiVersions (v0) request and expects a well-formed answer
# with error code 0 that advertises Produce, Fetch and Metadata. An open port alone is not enough:
# the broker can be listening before it serves, and something else may hold the port.
# Perl because it is on every Debian machine; Debian's kcat cannot talk to tansu.
#
# usage: kafka-ping.pl HOST PORT [TIMEOUT_SECONDS]   exit 0 = healthy, 1 = not (reason on stderr)
use strict;
use warnings;

use IO::Socket::INET;
use IO::Select;

my ( $host, $port, $timeout ) = @ARGV;
die "usage: $0 HOST PORT [TIMEOUT_SECONDS]\n" unless $host && $port;
$timeout //= 2;

sub fail { print STDERR "kafka-ping $host:$port: @_\n"; exit 1 }

my $socket = IO::Socket::INET->new( PeerAddr => $host, PeerPort => $port, Proto => 'tcp', Timeout => $timeout )
  or fail("cannot connect: $!");
binmode $socket;

my $correlation_id = 0x6d70;    # any value; the reply must echo it
my $client_id      = 'mailpulse-stack-ping';
# Request header v1: api_key=18 (ApiVersions), api_version=0, correlation_id, client_id; empty body.
my $request = pack( 'n n N n/a*', 18, 0, $correlation_id, $client_id );
print {$socket} pack( 'N', length $request ) . $request or fail("cannot send: $!");

my $select = IO::Select->new($socket);
sub read_exactly {
    my ($wanted) = @_;
    my $buffer = '';
    while ( length $buffer < $wanted ) {
        $select->can_read($timeout) or fail("no answer within ${timeout}s");
        my $got = sysread( $socket, $buffer, $wanted - length $buffer, length $buffer );
        fail("read failed: $!") unless defined $got;
        fail("connection closed after " . length($buffer) . " of $wanted bytes") if $got == 0;
    }
    return $buffer;
}

my $size = unpack( 'N', read_exactly(4) );
fail("implausible response size $size") if $size < 10 || $size > 1 << 20;
my ( $echoed, $error_code, $count, $entries ) = unpack( 'N n! N a*', read_exactly($size) );
fail("correlation id $echoed, expected $correlation_id") unless $echoed == $correlation_id;
fail("ApiVersions error code $error_code") unless $error_code == 0;
fail("truncated ApiVersions list") if length($entries) < 6 * $count;

my %api = map { $_ => 1 } unpack( "(n x4)$count", $entries );
for my $needed ( [ 0, 'Produce' ], [ 1, 'Fetch' ], [ 3, 'Metadata' ] ) {
    fail("broker does not advertise $needed->[1]") unless $api{ $needed->[0] };
}
print "kafka-ping $host:$port: ok ($count APIs)\n";
