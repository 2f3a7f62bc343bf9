# In-store kiosk welcome screen (placement kiosk.welcome). Arabic. The kiosk pilot is retired.

kiosk-welcome-title = مرحبًا بك في Northwind
kiosk-welcome-body = امسح أي منتج لمعرفة المقاسات والألوان والتقييمات.
