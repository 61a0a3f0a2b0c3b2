# gnuplot script written by bench/compare; run: gnuplot 2026-11-27-vm.gp
set datafile missing "?"

set terminal pngcairo size 1100,680 font "sans,10"
set output '2026-11-27-vm-throughput.png'
reset
set datafile missing '?'
set title "4 KiB downloads, ferry-bench get: files/s vs concurrent clients (vm, 2026-11-27)"
set logscale xy
set grid xtics ytics mxtics mytics
set xlabel "concurrent clients"
set ylabel "files/s"
set key outside right top
set xrange [0.8:15000]
plot '2026-11-27-vm-throughput.dat' index 0 using 1:2 with linespoints lw 2 title 'ferryd-libev', \
     '2026-11-27-vm-throughput.dat' index 1 using 1:2 with linespoints lw 2 title 'ferryd-libev-w2', \
     '2026-11-27-vm-throughput.dat' index 2 using 1:2 with linespoints lw 2 title 'ferryd-libev-lt', \
     '2026-11-27-vm-throughput.dat' index 3 using 1:2 with linespoints lw 2 title 'ferryd-epoll', \
     '2026-11-27-vm-throughput.dat' index 4 using 1:2 with linespoints lw 2 title 'ferryd-poll', \
     '2026-11-27-vm-throughput.dat' index 5 using 1:2 with linespoints lw 2 title 'ferryd-select', \
     '2026-11-27-vm-throughput.dat' index 6 using 1:2 with linespoints lw 2 title 'ferryd-thread', \
     '2026-11-27-vm-throughput.dat' index 7 using 1:2 with linespoints lw 2 title 'ferryd-fork', \
     '2026-11-27-vm-throughput.dat' index 8 using 1:2 with linespoints lw 2 title 'ferryd-iterative', \
     '2026-11-27-vm-throughput.dat' index 9 using 1:2 with linespoints lw 2 title 'ferryd-synthetic', \
     '2026-11-27-vm-throughput.dat' index 10 using 1:2 with linespoints lw 2 title 'vsftpd', \
     '2026-11-27-vm-throughput.dat' index 11 using 1:2 with linespoints lw 2 title 'pure-ftpd', \
     '2026-11-27-vm-throughput.dat' index 12 using 1:2 with linespoints lw 2 title 'proftpd'
set output '2026-11-27-vm-memory.png'
reset
set datafile missing '?'
set title "server memory per idle logged-in connection (anonymous PSS, all processes; vm, 2026-11-27)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set yrange [0.1:*]
set grid ytics
set ylabel "KiB per connection (log scale)"
set xtics rotate by -35
set key top left
plot '2026-11-27-vm-memory.dat' using 2:xtic(1) title '1,000 clients', \
     '2026-11-27-vm-memory.dat' using 3 title '10,000 clients'

set terminal svg size 1100,680 dynamic font "sans,10"
set output '2026-11-27-vm-throughput.svg'
reset
set datafile missing '?'
set title "4 KiB downloads, ferry-bench get: files/s vs concurrent clients (vm, 2026-11-27)"
set logscale xy
set grid xtics ytics mxtics mytics
set xlabel "concurrent clients"
set ylabel "files/s"
set key outside right top
set xrange [0.8:15000]
plot '2026-11-27-vm-throughput.dat' index 0 using 1:2 with linespoints lw 2 title 'ferryd-libev', \
     '2026-11-27-vm-throughput.dat' index 1 using 1:2 with linespoints lw 2 title 'ferryd-libev-w2', \
     '2026-11-27-vm-throughput.dat' index 2 using 1:2 with linespoints lw 2 title 'ferryd-libev-lt', \
     '2026-11-27-vm-throughput.dat' index 3 using 1:2 with linespoints lw 2 title 'ferryd-epoll', \
     '2026-11-27-vm-throughput.dat' index 4 using 1:2 with linespoints lw 2 title 'ferryd-poll', \
     '2026-11-27-vm-throughput.dat' index 5 using 1:2 with linespoints lw 2 title 'ferryd-select', \
     '2026-11-27-vm-throughput.dat' index 6 using 1:2 with linespoints lw 2 title 'ferryd-thread', \
     '2026-11-27-vm-throughput.dat' index 7 using 1:2 with linespoints lw 2 title 'ferryd-fork', \
     '2026-11-27-vm-throughput.dat' index 8 using 1:2 with linespoints lw 2 title 'ferryd-iterative', \
     '2026-11-27-vm-throughput.dat' index 9 using 1:2 with linespoints lw 2 title 'ferryd-synthetic', \
     '2026-11-27-vm-throughput.dat' index 10 using 1:2 with linespoints lw 2 title 'vsftpd', \
     '2026-11-27-vm-throughput.dat' index 11 using 1:2 with linespoints lw 2 title 'pure-ftpd', \
     '2026-11-27-vm-throughput.dat' index 12 using 1:2 with linespoints lw 2 title 'proftpd'
set output '2026-11-27-vm-memory.svg'
reset
set datafile missing '?'
set title "server memory per idle logged-in connection (anonymous PSS, all processes; vm, 2026-11-27)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set yrange [0.1:*]
set grid ytics
set ylabel "KiB per connection (log scale)"
set xtics rotate by -35
set key top left
plot '2026-11-27-vm-memory.dat' using 2:xtic(1) title '1,000 clients', \
     '2026-11-27-vm-memory.dat' using 3 title '10,000 clients'
set output
