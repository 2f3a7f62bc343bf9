# In-store kiosk welcome screen (placement kiosk.welcome). Japanese. The kiosk pilot is retired.

kiosk-welcome-title = Northwindへようこそ
kiosk-welcome-body = 商品をスキャンすると、サイズ、カラー、レビューを確認できます。
