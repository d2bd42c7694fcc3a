#!/usr/bin/perl
# Builds an ASN MMDB in MaxMind's GeoLite2-ASN layout from the range CSVs of the npm package
# @ip-location-db/asn (`start,end,asn,org`, org quoted CSV-style when it holds a comma), so the
# same reader code serves the local stack and the GeoLite2-ASN files production users bring.
#
# usage: build-asn-mmdb.pl OUT.mmdb asn-ipv4.csv [asn-ipv6.csv ...]
#
# Ranges go in with insert_range (the writer splits them into CIDRs in C): ~515k ranges build in
# about 8 s and 190 MB on one core.
use strict;
use warnings;

use MaxMind::DB::Writer::Tree;

my ( $out, @csv_files ) = @ARGV;
die "usage: $0 OUT.mmdb asn-ipv4.csv [asn-ipv6.csv ...]\n" unless $out && @csv_files;

my %types = (
    autonomous_system_number       => 'uint32',
    autonomous_system_organization => 'utf8_string',
);

my $tree = MaxMind::DB::Writer::Tree->new(
    database_type => 'GeoLite2-ASN',
    description   => { en => 'mailpulse local-stack ASN database built from @ip-location-db/asn' },
    ip_version    => 6,
    record_size   => 24,
    # IPv4 lookups in an IPv6 tree go through ::a.b.c.d; alias the IPv4-mapped, Teredo
    # and 6to4 ranges to it as MaxMind's own files do.
    alias_ipv6_to_ipv4    => 1,
    languages             => ['en'],
    map_key_type_callback => sub { $types{ $_[0] } // die "no MMDB type for key $_[0]\n" },
);

# One hash per distinct (asn, org): the writer dedups records by content anyway, sharing them
# here also keeps Perl's memory flat.
my %records;
my ( $inserted, $skipped ) = ( 0, 0 );

for my $file (@csv_files) {
    open my $fh, '<:encoding(UTF-8)', $file or die "cannot open $file: $!\n";
    while ( my $line = <$fh> ) {
        chomp $line;
        next if $line eq '';
        my ( $start, $end, $asn, $org ) = split /,/, $line, 4;
        die "$file:$.: expected start,end,asn,org\n" unless defined $org && $asn =~ /^\d+$/;
        if ( $org =~ /^"(.*)"$/s ) {
            ( $org = $1 ) =~ s/""/"/g;
        }
        # The aliased IPv6 ranges (::ffff:0:0/96, Teredo 2001::/32, 6to4 2002::/16) point into the
        # IPv4 tree and refuse inserts of their own.
        if ( $start =~ /^(?:::ffff:|2001:(?:0{1,4})?:|2002:)/i ) {
            $skipped++;
            next;
        }
        my $record = $records{"$asn\0$org"} //= {
            autonomous_system_number       => $asn + 0,
            autonomous_system_organization => $org,
        };
        $tree->insert_range( $start, $end, $record );
        $inserted++;
    }
    close $fh;
}

my $tmp = "$out.tmp.$$";
open my $out_fh, '>:raw', $tmp or die "cannot write $tmp: $!\n";
$tree->write_tree($out_fh);
close $out_fh or die "cannot write $tmp: $!\n";
rename $tmp, $out or die "cannot rename $tmp to $out: $!\n";

printf STDERR "asn mmdb: %d ranges inserted, %d aliased ranges skipped, %d distinct records -> %s\n",
    $inserted, $skipped, scalar( keys %records ), $out;
